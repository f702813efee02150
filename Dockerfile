FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=carrytheone.settings \
    GUNICORN_CMD_ARGS="--bind=0.0.0.0:8000 --workers=3 --timeout=30 --access-logfile=-"

WORKDIR /app
RUN useradd --create-home --uid 1000 app

COPY pyproject.toml README.md LICENSE requirements-prod.lock ./
COPY carrytheone carrytheone
COPY accounts accounts
COPY billing billing
COPY integrations integrations
COPY sandbox sandbox
COPY alerts alerts
COPY support support
# The runtime pins of requirements.lock, hash-checked (pip and setuptools included), then the
# project with nothing more: the image runs the versions CI tested.
RUN pip install --require-hashes --no-deps -r requirements-prod.lock && pip check \
    && pip install --no-deps --no-build-isolation .

COPY . .
# collectstatic needs settings but no secrets or database.
RUN DEBUG=0 SECRET_KEY=collectstatic-only VAR_DIR=/tmp/var python manage.py collectstatic --noinput

USER app
ENV VAR_DIR=/tmp/var
EXPOSE 8000
CMD ["gunicorn", "carrytheone.wsgi:application"]
