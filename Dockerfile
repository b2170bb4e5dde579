# kanazawa-maas production image: gunicorn serving maas:create_app() as a non-root user.
# Build:   docker build -t kanazawa-maas .
# Migrate: docker run --rm --env-file maas.env kanazawa-maas maas db upgrade
# Run:     docker run -p 8000:8000 --env-file maas.env kanazawa-maas            (the app)
#          docker run --env-file maas.env kanazawa-maas maas worker             (the one worker)
# maas.env holds MAAS_DATABASE_URL, MAAS_REDIS_URL, MAAS_SECRET_KEY, MAAS_KEY_ENCRYPTION_KEY and
# MAAS_PAYMENT_PROVIDER (production refuses to start without them); compose.yaml runs the whole
# fleet, docs/deploy.md explains it.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Node.js and npm only in this stage: `maas assets` installs the pages' browser libraries;
# gcc (and libc headers) too: gunicorn-h1c comes as source and is compiled into a wheel here
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY setup.cfg pyproject.toml README.md package.json package-lock.json ./
COPY maas ./maas
COPY gtfs ./gtfs
COPY passes ./passes
COPY validators ./validators
# 1. wheels of everything; 2. install them here to run `maas assets` (it reads the npm pins the
# wheel carries in maas/npm/) into /vendor, which the runtime stage copies: the browser
# libraries are not package data, the app serves them from MAAS_ASSETS_DIR
RUN pip wheel --wheel-dir /wheels . \
    && pip install --no-index --find-links=/wheels kanazawa-maas \
    && maas assets --vendor-dir /vendor \
    && test -f /vendor/manifest.json

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAAS_ENV=production \
    MAAS_HOME=/var/lib/maas \
    MAAS_ASSETS_DIR=/opt/maas/vendor \
    MAAS_HOST=0.0.0.0 \
    MAAS_PORT=8000 \
    MAAS_WORKERS=2 \
    MAAS_LOG_FORMAT=json \
    NUMBA_CACHE_DIR=/var/lib/maas/numba-cache \
    PROMETHEUS_MULTIPROC_DIR=/tmp/maas-metrics
RUN groupadd --system maas \
    && useradd --system --gid maas --home-dir /var/lib/maas --create-home --shell /usr/sbin/nologin maas
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels kanazawa-maas && rm -rf /wheels
# read-only for the app and outside MAAS_HOME: a volume mounted on /var/lib/maas neither hides
# them nor keeps an older release's copy
COPY --from=build /vendor /opt/maas/vendor
WORKDIR /var/lib/maas
USER maas
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('MAAS_PORT', '8000'), timeout=4).status == 200 else 1)"
# maas serve checks the schema is at this release's revision (else exits naming `maas db
# upgrade`), then execs gunicorn with maas.gunicorn_conf: gunicorn is pid 1 and gets SIGTERM
CMD ["maas", "serve"]
