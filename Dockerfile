# The one image every batchline service runs from (worker, beat, flower, sandbox); the service
# picks the command. Built by docker-compose.yml; `docker build -t batchline .` works alone too.
#
# Your own code (response models, callbacks) goes in /srv/app, the services' working directory
# and on PYTHONPATH: mount it there (docker-compose.yml's BATCHLINE_APP_DIR) or build an image
# `FROM batchline:local` that COPYs your package there (examples/containers/Dockerfile).
FROM python:3.11-slim

# The machine's pip settings can be passed through (`--build-arg PIP_INDEX_URL=...`); left unset,
# pip uses PyPI.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_DEFAULT_TIMEOUT=120

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/srv/app

WORKDIR /app

# Dependencies first, from pyproject alone (an empty package and README stand in for the real
# ones), so that changing batchline's code or README rebuilds only the small layer below, not
# the whole dependency set.
COPY pyproject.toml ./
RUN mkdir batchline \
    && touch batchline/__init__.py README.md \
    && pip install . \
    && rm -rf batchline build README.md

# pyproject names README.md as the long description, so the build needs it beside the code.
COPY README.md ./
COPY batchline ./batchline
# The service user owns only what it writes: beat's schedule directory (a volume in compose, so
# the schedule survives a restart). /app and /srv/app stay root-owned and read-only to it.
RUN pip install --no-deps --force-reinstall . \
    && rm -rf build \
    && useradd --create-home --uid 10001 batchline \
    && install -d -o batchline -g batchline /var/lib/batchline/beat \
    && install -d /srv/app

WORKDIR /srv/app
# Nothing in the services needs root; the sandbox listens on unprivileged ports.
USER batchline

CMD ["batchline", "--help"]
