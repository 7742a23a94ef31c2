# syntax=docker/dockerfile:1
# Invoice Scanner CPU image: the stage workers (orchestrator, preprocessing, llm, extraction,
# evaluation, maintenance), the beat scheduler, and OCR on RapidOCR/ONNX Runtime in the
# CPU-only deployment (docker-compose.cpu.yml). One image, one queue per container: the
# compose service picks the queue with `python -m invoice.scanner.processing.worker --queue <q>`.
#
# PROCESSING_EXTRAS selects the processing package's extras; the Flower service builds this
# same file with PROCESSING_EXTRAS=flower (core + Flower, no stage libraries).
#
#   docker build -f docker/worker.Dockerfile -t invoice-scanner/worker .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PROCESSING_EXTRAS=stages,vendors,s3
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer survives source edits.
COPY docker/pyproject_deps.py docker/
COPY invoice.scanner.processing/pyproject.toml invoice.scanner.processing/
RUN python docker/pyproject_deps.py invoice.scanner.processing/pyproject.toml \
        --extras "${PROCESSING_EXTRAS}" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

COPY invoice.scanner.processing/ invoice.scanner.processing/
RUN pip install --no-cache-dir --no-deps ./invoice.scanner.processing \
    && pip check

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="invoice-scanner-worker" \
      org.opencontainers.image.licenses="Apache-2.0"
# libgomp1: ONNX Runtime's and OpenCV's OpenMP threads; libglib2.0-0: OpenCV (headless) imports.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/documents \
    && chown app:app /data/documents
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/invoice-scanner-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOCUMENTS_DIR=/data/documents
WORKDIR /app
USER 10001:10001
# Liveness: this container's worker node answers a Celery ping through the broker. The
# queue is read from the main command line (--queue <q>), so one HEALTHCHECK fits every
# worker service; beat and Flower override it in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 \
    CMD ["python", "-m", "invoice.scanner.processing.healthcheck", "--timeout", "10"]
ENTRYPOINT ["invoice-scanner-entrypoint"]
CMD ["python", "-m", "invoice.scanner.processing.worker", "--queue", "orchestrator"]
