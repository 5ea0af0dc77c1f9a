-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d):
-- one database per service, since no service reads another's tables.
CREATE DATABASE gateway;
CREATE DATABASE chat;
CREATE DATABASE billing;
