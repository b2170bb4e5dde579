# kanazawa-maas production image: gunicorn serving maas:create_app() as a non-root user.
# Build:   docker build -t kanazawa-maas .
# Migrate: docker run --rm -e MAAS_DATABASE_URL=... -e MAAS_SECRET_KEY=... kanazawa-maas maas db upgrade
# Run:     docker run -p 8000:8000 -e MAAS_DATABASE_URL=... -e MAAS_SECRET_KEY=... kanazawa-maas

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY maas ./maas
COPY gtfs ./gtfs
COPY passes ./passes
COPY validators ./validators
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAAS_ENV=production \
    MAAS_HOME=/var/lib/maas \
    MAAS_HOST=0.0.0.0 \
    MAAS_PORT=8000 \
    MAAS_WORKERS=2 \
    MAAS_LOG_FORMAT=json \
    NUMBA_CACHE_DIR=/var/lib/maas/numba-cache
RUN groupadd --system maas \
    && useradd --system --gid maas --home-dir /var/lib/maas --create-home --shell /usr/sbin/nologin maas
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels kanazawa-maas && rm -rf /wheels
WORKDIR /var/lib/maas
USER maas
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('MAAS_PORT', '8000'), timeout=4).status == 200 else 1)"
CMD ["gunicorn", "--config", "python:maas.gunicorn_conf", "maas:create_app()"]
