# The one image every batchline service runs from (worker, beat, flower, sandbox); the service
# picks the command. Built by docker-compose.yml; `docker build -t batchline .` works alone too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# pyproject names README.md as the long description, so the build needs it beside the code.
COPY pyproject.toml README.md ./
COPY batchline ./batchline
RUN pip install . \
    && useradd --create-home --uid 10001 batchline

# Nothing in the services needs root; the sandbox listens on unprivileged ports.
USER batchline

CMD ["batchline", "--help"]
