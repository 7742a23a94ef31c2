# syntax=docker/dockerfile:1
# Invoice Scanner OCR worker on the GPU: PaddleOCR 3.x on paddlepaddle-gpu (Paddle's official
# CUDA 12.6 wheel) over NVIDIA's CUDA + cuDNN runtime image. Installs the processing package
# with the `stages` and `paddle` extras and bakes PaddleOCR's models into the image at build
# time, so a container start never downloads (the models live in PADDLE_PDX_CACHE_HOME for
# PaddleOCR 3.x and PADDLE_OCR_BASE_DIR for 2.x, both under /opt/paddle-models).
#
# Needs the NVIDIA driver and the NVIDIA Container Toolkit on the host to *run*; building
# needs no GPU (the bake runs the engine on the CPU).
#
#   docker build -f docker/ocr-gpu.Dockerfile -t invoice-scanner/ocr-gpu .
#   CUDA 11.8 drivers: --build-arg CUDA_IMAGE=nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04
#                      --build-arg PADDLE_INDEX_URL=https://www.paddlepaddle.org.cn/packages/stable/cu118/
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# --- build: the requirement list and the project wheel (the runtime's Python is the
# distribution's, which may lack tomllib; the wheel is pure Python) -----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY docker/pyproject_deps.py docker/
COPY invoice.scanner.processing/pyproject.toml invoice.scanner.processing/
RUN python docker/pyproject_deps.py invoice.scanner.processing/pyproject.toml \
        --extras stages,paddle > requirements.txt
COPY invoice.scanner.processing/ invoice.scanner.processing/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./invoice.scanner.processing

# --- runtime on the CUDA image --------------------------------------------------------------
FROM ${CUDA_IMAGE} AS runtime
ARG PADDLE_VERSION=3.0.0
ARG PADDLE_INDEX_URL=https://www.paddlepaddle.org.cn/packages/stable/cu126/
# PaddleOCR 3.x runs on paddlepaddle 3.x (it never installs paddlepaddle itself); 3.7 brought PP-OCRv6.
ARG PADDLEOCR_CONSTRAINT="paddleocr>=3.7,<4"
ARG OCR_MODELS=ppocrv6
LABEL org.opencontainers.image.title="invoice-scanner-ocr-gpu" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
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
# The distribution's Python 3 (3.12 on Ubuntu 24.04) in a virtual environment; libgl1 and
# libglib2.0-0 for the OpenCV build PaddleX pulls in, libgomp1 for OpenMP.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libgl1 libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/documents /opt/paddle-models \
    && chown app:app /data/documents /opt/paddle-models

# The largest layer first and on its own: it changes only with PADDLE_VERSION.
RUN pip install --no-cache-dir "paddlepaddle-gpu==${PADDLE_VERSION}" --extra-index-url "${PADDLE_INDEX_URL}"

# Dependencies next (cached while pyproject.toml is unchanged), then the project wheel.
COPY --from=build /src/requirements.txt /tmp/requirements.txt
RUN echo "${PADDLEOCR_CONSTRAINT}" > /tmp/constraints.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt -c /tmp/constraints.txt \
    && python -c "import paddle; print('paddle', paddle.__version__, 'cuda', paddle.version.cuda())"
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/invoice-scanner-entrypoint
COPY docker/bake_paddle_models.py /opt/invoice-scanner/bake_paddle_models.py

WORKDIR /app
USER 10001:10001
# Bake the models as the service user, so the files belong to it without a copying chown.
RUN python /opt/invoice-scanner/bake_paddle_models.py
HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python", "-m", "invoice.scanner.processing.healthcheck", "--timeout", "10"]
ENTRYPOINT ["invoice-scanner-entrypoint"]
CMD ["python", "-m", "invoice.scanner.processing.worker", "--queue", "ocr"]
