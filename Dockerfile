# One image for every process: web (default command), worker and beat differ only by command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app
RUN groupadd --system darkroom && useradd --system --gid darkroom --home /app darkroom

# The locked runtime dependencies first (their own layer, rebuilt only when the lock changes),
# every file checked against its hash. The image stores files on S3 (compose: MinIO), so it
# takes the lock with the `s3` extra (boto3), which command 1 leaves out for local files.
COPY requirements-s3.lock ./
RUN pip install --require-hashes -r requirements-s3.lock

COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY boards ./boards
COPY presets ./presets
COPY generations ./generations
COPY providers ./providers
COPY simulator ./simulator
COPY common ./common
COPY templates ./templates
COPY static ./static
COPY locale ./locale
COPY manage.py ./
RUN pip install --no-deps . && mkdir -p /app/var && chown -R darkroom:darkroom /app/var

USER darkroom
# collectstatic needs no database; a random build-time key (placeholders are refused) for this step only.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput

EXPOSE 8000
# Alive = the web process answers; it touches no dependency (compose checks /readyz too).
# Worker and beat containers override this check (see compose.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# SIGTERM: uvicorn stops accepting, lets requests finish for up to 30 s (see README).
# --no-proxy-headers: X-Forwarded-* are believed only from DARKROOM_TRUSTED_PROXIES (default
# none), applied inside the app (config/ops/proxies.py), never from whoever connects.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers", "--timeout-graceful-shutdown", "30"]
