# syntax=docker/dockerfile:1
#
# authserver container image.
#
#   docker build -t authserver .
#   docker run --rm authserver authserver --help
#
# Configuration is AUTHSERVER_* environment variables only (see .env.example); nothing secret is
# baked into the image. Run `authserver migrate` once (the compose file has a one-shot service for
# it) before `authserver serve`, which refuses to start on an out-of-date schema.
# Needs BuildKit (the default builder since Docker 23) for the RUN --mount lines.

# Pinned by digest (the multi-platform index of python:3.11-slim, Python 3.11.15 on Debian trixie, as
# published in docker-library/repo-info), so a rebuild starts from the same bytes. To move to a newer
# patch release, look up the tag's current digest (`docker buildx imagetools inspect python:3.11-slim`)
# and replace it here.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

# ---------------------------------------------------------------------------------------------------
# build: wheels for the dependencies and for authserver itself (migrations/ and templates/ are
# force-included into the wheel as authserver/_data/..., see pyproject.toml).
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock changes, not on every
# source edit. requirements.lock pins every runtime package (make lock) and pip checks each file
# against its hash. Every dependency ships manylinux wheels, so no compiler is needed.
COPY requirements.lock ./
RUN pip wheel --wheel-dir /wheels --require-hashes --requirement requirements.lock

# The package. .dockerignore keeps keys, databases, virtualenvs and test artefacts out of the
# context. The wheel build needs README.md (the project readme), authserver/, migrations/ and
# templates/; templates/ is made if absent (hatchling fails on a missing force-include source, and an
# empty directory would not reach the wheel at all).
COPY . .
RUN test -d migrations/versions \
 && mkdir -p templates \
 && { [ -n "$(ls -A templates)" ] || touch templates/.gitkeep; } \
 && pip wheel --no-deps --wheel-dir /wheels . \
 && python -m zipfile -l /wheels/authserver-*.whl | grep 'authserver/_data/migrations/env.py' >/dev/null \
 && python -m zipfile -l /wheels/authserver-*.whl | grep 'authserver/_data/locales/de/LC_MESSAGES/messages.po' >/dev/null

# ---------------------------------------------------------------------------------------------------
# runtime: a venv holding only the installed wheels; no build context, no pip cache, no compiler.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="authserver" \
      org.opencontainers.image.description="OAuth 2.0 / OpenID Connect identity provider" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels authserver \
 && /opt/venv/bin/authserver --version

# A fixed, non-root uid/gid (numeric USER, so runAsNonRoot-style checks can verify it). The code in
# /opt/venv stays root-owned and read-only to it. /app is its own: in development (no
# AUTHSERVER_SECRET_KEY) the dev secret is written to /app/keys and the default SQLite file to /app;
# in production neither is used.
RUN groupadd --system --gid 10001 authserver \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin authserver \
 && install -d -o 10001 -g 10001 -m 0750 /app \
 && install -d -o 10001 -g 10001 -m 0700 /app/keys

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# Liveness only (/readyz also checks the database and Redis). urllib, as there is no curl in slim;
# proxies are bypassed explicitly, since urllib would honour an HTTP_PROXY in the environment even for
# 127.0.0.1. An HTTP error status or a connection error raises, and the exit status is 1 (unhealthy).
# If you override CMD with another --port, override this too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8000/healthz', timeout=4)"]

# uvicorn drains in-flight requests for up to 20 s on SIGTERM: give the container longer than
# Docker's default 10 s to stop (compose: stop_grace_period; Kubernetes: terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM

# Exec form: authserver is PID 1 and receives SIGTERM itself. --workers > 1 needs AUTHSERVER_REDIS_URL.
CMD ["authserver", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
