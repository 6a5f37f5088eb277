# meterwise prediction API: `docker build -t meterwise:0.1.0 .`, then
#   docker run -p 127.0.0.1:8000:8000 -v $PWD/var:/app/var -e METERWISE_API_KEYS_FILE=/keys.json -v $PWD/keys.json:/keys.json meterwise:0.1.0
# Runs as an unprivileged user; models come from the MLflow registry (METERWISE_TRACKING_URI, or /app/var) or the
# bundles in /app/models. It binds 0.0.0.0, so it refuses to start with the demo API keys: give it your own.
# The same image runs the MLflow server and the Dask scheduler and workers of deploy/compose.yaml.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY features ./features
COPY training ./training
COPY serving ./serving
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install .

FROM python:3.11.11-slim-bookworm
# libgomp1: LightGBM's OpenMP runtime
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 meterwise \
    && useradd --system --uid 10001 --gid meterwise --home-dir /app --shell /usr/sbin/nologin meterwise
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=meterwise:meterwise models ./models
RUN mkdir -p /app/var && chown meterwise:meterwise /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    METERWISE_HOST=0.0.0.0 \
    METERWISE_PORT=8000 \
    METERWISE_VAR_DIR=/app/var \
    METERWISE_MODELS_DIR=/app/models
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["meterwise", "serve"]
