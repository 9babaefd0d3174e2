# A thin wrapper over deploy/run, the commands the CI smoke test (tests/deploy) runs.
# Build: docker build -t crm .    Run: see compose.yaml and docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CRM_ENV=production CRM_INSTANCE_PATH=/var/lib/crm GUNICORN_BIND=0.0.0.0:8000

# pg_dump for `deploy/run backup`; nothing else from the system.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/crm --uid 10001 crm

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
# .dockerignore leaves out devtools/ (the Stripe sandbox, seed generator, dev server), tests/ and bench/.
RUN python -m compileall -q crm && chown -R root:root /app

USER crm
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
ENTRYPOINT ["deploy/run"]
CMD ["web"]
