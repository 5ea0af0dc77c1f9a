"""Development infrastructure: find or start RabbitMQ, Redis and PostgreSQL for `make run` / `make test`."""
