# okta-itdr daemon image. Build: docker build -t okta-itdr .
# Run:   docker run -v $PWD/itdr.yaml:/etc/itdr/itdr.yaml -e OKTA_ACME_TOKEN=... okta-itdr
# Kafka mode (aiokafka, faust-streaming) is installed too: see deploy/docker-compose.yml for the roles.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY detections ./detections
RUN pip install --no-cache-dir '.[kafka]' && useradd --system --uid 10001 itdr && mkdir -p /var/lib/itdr && chown itdr /var/lib/itdr
USER itdr
WORKDIR /var/lib/itdr
ENTRYPOINT ["detector"]
CMD ["run", "--config", "/etc/itdr/itdr.yaml"]
