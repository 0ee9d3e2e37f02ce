# syntax=docker/dockerfile:1
# okta-itdr daemon image: every role (embedded `run`, Kafka `poller`, `worker`, `actions`) and the tools
# (`check-config`, `status`, `test-connection`). Build: docker build -t okta-itdr:0.1.0 .
# Run:   docker run -v $PWD/itdr.yaml:/etc/itdr/itdr.yaml:ro -e OKTA_ACME_TOKEN -p 127.0.0.1:9108:9108 okta-itdr:0.1.0
# (with `http: {bind: 0.0.0.0}` in itdr.yaml for the port to answer outside the container). The config and
# its secrets are mounted or passed at run time, never built in: see docs/operations.md.

# Build stage: the project's wheel and its dependencies' wheels (Kafka mode included). Anything that
# needs compiling is compiled here, so the final image holds no build tools and no source tree.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY detections ./detections
RUN pip wheel --prefer-binary --wheel-dir /wheels '.[kafka]'

# Final stage: the wheels installed from a bind mount (no layer keeps them), a fixed non-root uid.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels 'okta-itdr[kafka]' \
    && groupadd --system --gid 10001 itdr \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin itdr \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/itdr
# Numeric, so Kubernetes' runAsNonRoot can verify it (deploy/k8s runs as the same uid).
USER 10001:10001
WORKDIR /var/lib/itdr
# The ops server (/healthz, /readyz, /metrics, admin API): the default command serves it on this port.
EXPOSE 9108
# Docker's own check; Compose and Kubernetes define theirs per role and port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=3)"]
ENTRYPOINT ["detector"]
CMD ["run", "--config", "/etc/itdr/itdr.yaml", "--metrics-port", "9108"]
