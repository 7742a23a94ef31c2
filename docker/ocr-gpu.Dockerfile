# syntax=docker/dockerfile:1
# Invoice Scanner OCR worker on the GPU: PaddleOCR on paddlepaddle-gpu, from the official
# PaddlePaddle GPU image (CUDA 12.6, cuDNN 9.5). Installs the processing package with the
# `stages` and `paddle` extras and bakes PaddleOCR's models into the image at build time, so a
# container start never downloads (the models live in PADDLE_PDX_CACHE_HOME for PaddleOCR 3.x
# and PADDLE_OCR_BASE_DIR for 2.x, both under /opt/paddle-models).
#
# Needs the NVIDIA driver and the NVIDIA Container Toolkit on the host to *run*; building
# needs no GPU.
#
#   docker build -f docker/ocr-gpu.Dockerfile -t invoice-scanner/ocr-gpu .
#   (CUDA 11.8 hosts: --build-arg PADDLE_IMAGE=paddlepaddle/paddle:3.0.0-gpu-cuda11.8-cudnn8.9-trt8.6)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG PADDLE_IMAGE=paddlepaddle/paddle:3.0.0-gpu-cuda12.6-cudnn9.5-trt10.5

# --- build: the requirement list and the project wheel (the Paddle image's Python may be
# older than 3.11, whose tomllib the requirement script uses) ----------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY docker/pyproject_deps.py docker/
COPY invoice.scanner.processing/pyproject.toml invoice.scanner.processing/
RUN python docker/pyproject_deps.py invoice.scanner.processing/pyproject.toml \
        --extras stages,paddle > requirements.txt
COPY invoice.scanner.processing/ invoice.scanner.processing/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./invoice.scanner.processing

# --- runtime on the Paddle GPU image -------------------------------------------------------
FROM ${PADDLE_IMAGE} AS runtime
# PaddleOCR 3.x matches paddlepaddle 3.0 in the base image (it never installs paddlepaddle itself).
ARG PADDLEOCR_CONSTRAINT="paddleocr>=3.0,<4"
ARG OCR_MODELS=ppocrv5
LABEL org.opencontainers.image.title="invoice-scanner-ocr-gpu" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOCUMENTS_DIR=/data/documents \
    PADDLE_PDX_CACHE_HOME=/opt/paddle-models/paddlex \
    PADDLE_OCR_BASE_DIR=/opt/paddle-models/paddleocr \
    PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    OCR_ENGINE=paddle \
    OCR_USE_GPU=true \
    OCR_MODELS=${OCR_MODELS}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/documents /opt/paddle-models \
    && chown app:app /data/documents /opt/paddle-models

# Dependencies first (cached while pyproject.toml is unchanged), then the project wheel.
COPY --from=build /src/requirements.txt /tmp/requirements.txt
RUN echo "${PADDLEOCR_CONSTRAINT}" > /tmp/constraints.txt \
    && python3 -m pip install --no-cache-dir -r /tmp/requirements.txt -c /tmp/constraints.txt \
    && python3 -c "import paddle; print('paddle', paddle.__version__, 'cuda', paddle.version.cuda())"
COPY --from=build /wheels /tmp/wheels
RUN python3 -m pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/invoice-scanner-entrypoint
COPY docker/bake_paddle_models.py /opt/invoice-scanner/bake_paddle_models.py

WORKDIR /app
USER 10001:10001
# Bake the models as the service user, so the files belong to it without a copying chown.
RUN python3 /opt/invoice-scanner/bake_paddle_models.py
HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python3", "-m", "invoice.scanner.processing.healthcheck", "--timeout", "10"]
ENTRYPOINT ["invoice-scanner-entrypoint"]
CMD ["python3", "-m", "invoice.scanner.processing.worker", "--queue", "ocr"]
