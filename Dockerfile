# syntax=docker/dockerfile:1
# Attain's image: the `attain` command with the PostgreSQL driver and the Kafka stream worker.
#
#   docker build -t attain .
#   docker run --rm attain --help
#   docker run --rm -e ATTAIN_DATABASE_URL=postgresql+psycopg://… attain worker --web-port 6066
#
# Two stages: the builder makes a wheel of Attain and of every dependency; the final stage
# installs those wheels and nothing else (no index, no compiler, no source tree), so a container
# installs nothing when it starts. docker-compose.yml runs this image for every Attain service and
# sets a health check per service (the image has none: a worker, the API and a one-shot migration
# are healthy in different ways). tests/deploy/test_dockerfile.py checks the structure.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: wheels ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# What the wheel is built from (.dockerignore keeps everything else out of the context).
COPY pyproject.toml README.md ./
COPY core ./core
COPY plugins ./plugins
COPY streams ./streams
COPY testing ./testing
# The committed lock: the image gets exactly the versions CI tested (uv exports it as pip
# constraints; uv itself is pinned like scripts/uv's copy).
COPY uv.lock ./
RUN python -m pip install "uv==0.13.9" \
 && uv export --frozen --no-hashes --no-emit-project --extra postgres --extra streams --extra forecast --extra api \
        --output-file /tmp/constraints.txt \
 && python -m pip wheel --wheel-dir /wheels --constraint /tmp/constraints.txt ".[postgres,streams,forecast,api]"

# -- final: the runtime --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="Attain" \
      org.opencontainers.image.description="Plugin-based, event-driven sales performance management" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# Only the builder's wheels (mounted for this step, so they are no layer of the image).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links /wheels "attain[postgres,streams,forecast,api]"
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/attain --create-home \
        --shell /usr/sbin/nologin attain
USER 10001:10001
WORKDIR /var/lib/attain
# Faust's local state (the worker's table is in memory; this holds its bookkeeping).
ENV ATTAIN_FAUST_DATADIR=/var/lib/attain/faust
# 6066: a worker's /metrics (attain worker --web-port 6066); 8000: the API (attain serve).
EXPOSE 6066 8000
ENTRYPOINT ["attain"]
CMD ["--help"]
