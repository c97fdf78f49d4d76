# syntax=docker/dockerfile:1
# Picora media origin: a slim, non-root image. Build: docker build -t picora-origin .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY origin ./origin
COPY auth ./auth
COPY cache ./cache
COPY config ./config
RUN pip install .

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PICORA_HOST=0.0.0.0 \
    PICORA_PORT=8080 \
    PICORA_DATA_DIR=/data
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin picora \
    && mkdir -p /data && chown picora /data
COPY --from=build /opt/venv /opt/venv
USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["picora-origin"]
CMD ["serve"]
