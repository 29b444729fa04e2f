# The cloud service image. Built by docker-compose.yml; runs `python -m cloud` with DK_* settings.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY cloud ./cloud
COPY edge ./edge
COPY lockers ./lockers
COPY sensors ./sensors
COPY provisioning ./provisioning
COPY firmware ./firmware
COPY dorpskluis ./dorpskluis
# uid 1883 = the mosquitto image's user: the cloud edits the broker's password file and signals the broker.
RUN pip install . && useradd --system --uid 1883 --home-dir /app --shell /usr/sbin/nologin dorpskluis \
    && mkdir -p /var/lib/dorpskluis && chown dorpskluis /var/lib/dorpskluis

USER dorpskluis
ENV DK_DATA_DIR=/var/lib/dorpskluis DK_HTTP_HOST=0.0.0.0 DK_HTTP_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health').status != 200)"
CMD ["python", "-m", "cloud"]
