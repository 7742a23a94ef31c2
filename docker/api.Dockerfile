# syntax=docker/dockerfile:1
# Invoice Scanner API: gunicorn serving invoice.scanner.api.wsgi:app on port 5000.
# Installs the API package and the *core* of the processing package only (status model,
# schema and migrations, Celery client): no OCR, OpenCV, ONNX, Paddle or LLM SDKs.
# The same image runs the one-shot `migrate` service.
#
#   docker build -f docker/api.Dockerfile -t invoice-scanner/api .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment with the dependencies, then the two packages ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the pyproject files alone: this layer survives source edits.
COPY docker/pyproject_deps.py docker/
COPY invoice.scanner.api/pyproject.toml invoice.scanner.api/
COPY invoice.scanner.processing/pyproject.toml invoice.scanner.processing/
RUN python docker/pyproject_deps.py invoice.scanner.api/pyproject.toml --extras s3 \
        --also invoice.scanner.processing/pyproject.toml > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Then the source, installed without touching the dependencies again.
COPY invoice.scanner.processing/ invoice.scanner.processing/
COPY invoice.scanner.api/ invoice.scanner.api/
RUN pip install --no-cache-dir --no-deps ./invoice.scanner.processing ./invoice.scanner.api \
    && pip check

# --- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="invoice-scanner-api" \
      org.opencontainers.image.licenses="Apache-2.0"
# One fixed uid/gid in every image of the stack: they share the documents volume.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/documents \
    && chown app:app /data/documents
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/invoice-scanner-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOCUMENTS_DIR=/data/documents \
    GUNICORN_CMD_ARGS="--bind=0.0.0.0:5000 --workers=2 --threads=4 --timeout=120 --graceful-timeout=30 --access-logfile=- --forwarded-allow-ips=*"
WORKDIR /app
USER 10001:10001
EXPOSE 5000
# /health answers 503 when PostgreSQL or Redis is unreachable: the container turns unhealthy.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=8).status == 200 else 1)"]
ENTRYPOINT ["invoice-scanner-entrypoint"]
# gunicorn reads its settings from GUNICORN_CMD_ARGS (override it in .env / compose).
CMD ["gunicorn", "invoice.scanner.api.wsgi:app"]
