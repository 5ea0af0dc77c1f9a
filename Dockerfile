# syntax=docker/dockerfile:1
# One image recipe for every service and emulator; build arguments say which (docker-compose.yml and
# deploy/k8s build each image this way), from the repository root:
#   docker build --build-arg SERVICE=chat --build-arg PORT=8001 -t mobixai/chat .
#   docker build --build-arg SERVICE=gateway --build-arg PORT=8000 --build-arg WEBAPP=built -t mobixai/gateway .
# SERVICE: the package run as `python -m SERVICE`; PORT: its HTTP port (health check, EXPOSE);
# HEALTH_PATH: what the health check asks for (the emulators, development tools, have no /readyz);
# WEBAPP: `built` copies the browser web app into the image (the gateway serves it), `none` leaves it out.
ARG WEBAPP=none

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The exact, hash-checked versions of requirements/runtime.txt (`make lock`); all are binary wheels for
# this platform, so no compiler is needed. The project's own wheel is built from the sources after.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip download --dest /wheels --only-binary=:all: --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY tools ./tools
RUN pip wheel --wheel-dir /wheels --no-deps .

# The browser web app (webapp/): built by Node, only its static files reach the gateway's image.
FROM node:20-slim AS webapp-built
WORKDIR /webapp
COPY webapp/package.json webapp/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY webapp ./
RUN npm run build

# For every other service: an empty folder (BuildKit skips the Node stage entirely).
FROM python:3.11-slim AS webapp-none
RUN mkdir -p /webapp/dist

# hadolint ignore=DL3006
FROM webapp-${WEBAPP} AS webapp

FROM python:3.11-slim
ARG SERVICE=gateway
ARG PORT=8000
ARG HEALTH_PATH=/readyz
# HTTP_HOST: every process's settings read it (a container listens on all interfaces); the port is
# the settings' own default (compose and Kubernetes set it too). MOBIX_SERVICE, MOBIX_PORT and
# MOBIX_HEALTH_PATH carry the build arguments to CMD and HEALTHCHECK, which expand no variables.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HTTP_HOST=0.0.0.0 \
    MOBIX_SERVICE=${SERVICE} \
    MOBIX_PORT=${PORT} \
    MOBIX_HEALTH_PATH=${HEALTH_PATH}
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 mobix \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin mobix
# Install the build stage's wheels without copying them into a layer of this image (--no-index: only
# those wheels, the lock's versions, checked against its hashes).
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements,target=/requirements \
    pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes --no-deps -r /requirements/runtime.txt \
    && pip install --no-cache-dir --no-index --find-links=/wheels --no-deps mobixai
WORKDIR /app
# var/ holds the SQLite default and media; a named volume mounted on var/media inherits this owner.
RUN mkdir -p /app/var/media && chown -R 10001:10001 /app/var
COPY --from=webapp /webapp/dist /app/webapp/dist
USER 10001:10001
EXPOSE ${PORT}
# Slim images have no curl: probe readiness with the standard library.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['MOBIX_PORT']}{os.environ['MOBIX_HEALTH_PATH']}\", timeout=4)"]
# exec: the service is PID 1's replacement and receives the stop signal itself.
CMD ["sh", "-c", "exec python -m \"$MOBIX_SERVICE\""]
