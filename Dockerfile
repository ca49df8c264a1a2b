# One image for every process: web (default command), worker and beat differ only by command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app
RUN groupadd --system darkroom && useradd --system --gid darkroom --home /app darkroom

COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY generations ./generations
COPY providers ./providers
COPY simulator ./simulator
COPY common ./common
COPY templates ./templates
COPY static ./static
COPY locale ./locale
COPY manage.py ./
RUN pip install . && mkdir -p /app/var && chown -R darkroom:darkroom /app/var

USER darkroom
# collectstatic needs no database; a build-time key is only for this step.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
