# walletpass image: the `walletpass` CLI as entry point; `serve` (the web app) by default, `worker` for a job
# worker. Built and run by compose.yaml with PostgreSQL and Redis (README: "Docker and Compose").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WALLETPASS_INSTANCE=/var/lib/walletpass/instance \
    WALLETPASS_CERTS_DIR=/var/lib/walletpass/certs

# Fonts for the card pictures of the pass pages (walletpass.fonts): Latin, and CJK for names such as 林美.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*

# The pinned runtime lock first (its own layer: rebuilt only when requirements.txt changes), then walletpass itself
# without resolving again. Every binary dependency (cryptography, pillow, psycopg) comes as a wheel.
# The CJK font of the printable flyers (WALLETPASS_FLYER_FONT's default).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY pyproject.toml README.md LICENSE /src/
COPY walletpass /src/walletpass
COPY api /src/api
RUN pip install --no-deps /src && rm -rf /src

# Run as an unprivileged user; the instance folder (secret key, metrics files; the SQLite database when no
# WALLETPASS_DATABASE_URL is set) and the certificates are volumes it owns.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/walletpass --shell /usr/sbin/nologin walletpass \
 && mkdir -p /var/lib/walletpass/instance /var/lib/walletpass/certs \
 && chown -R walletpass:walletpass /var/lib/walletpass
USER walletpass
WORKDIR /var/lib/walletpass
VOLUME ["/var/lib/walletpass/instance", "/var/lib/walletpass/certs"]

EXPOSE 8000
# /healthz answers 503 only when the database is unreachable (README: "Health and metrics").
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["walletpass"]
CMD ["serve", "--host", "0.0.0.0"]
