# EcomSight: one image for web (gunicorn), worker and beat (celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp1: LightGBM's OpenMP runtime (not in the slim image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Requirements first, so code changes do not reinstall them. torch comes as the CPU-only build.
COPY requirements.txt requirements-forecasts.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
    && pip install --no-deps -r requirements-forecasts.txt

# The code, named one folder at a time so that a local .venv, var/ or .git never lands in the image.
# A new Django app needs its line here.
COPY manage.py gunicorn.conf.py ./
COPY ecomsight/ ecomsight/
COPY accounts/ accounts/
COPY catalog/ catalog/
COPY behavior/ behavior/
COPY predictions/ predictions/
COPY recommendations/ recommendations/
COPY templates/ templates/
COPY static/ static/

# Not root, and the code stays read-only to the app. The data folders exist in the image owned by
# the app user, so the named volumes mounted there start out writable by it.
RUN useradd --create-home --uid 1000 ecomsight \
    && mkdir -p /data/var /data/models /data/media \
    && chown -R ecomsight:ecomsight /data
USER ecomsight

ENV DJANGO_SETTINGS_MODULE=ecomsight.settings.production \
    VAR_DIR=/data/var \
    MODEL_DIR=/data/models \
    MEDIA_ROOT=/data/media

EXPOSE 8000
CMD ["gunicorn", "ecomsight.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
