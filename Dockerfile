# Production image: gunicorn + whitenoise for web, the same image for the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# WeasyPrint's system libraries (invoice PDFs) and pg_isready for the entrypoint.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
      fonts-dejavu-core postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml ./
COPY majismart ./majismart
COPY tenants ./tenants
COPY accounts ./accounts
COPY notifications ./notifications
COPY clients ./clients
COPY meters ./meters
COPY billing ./billing
COPY payments ./payments
COPY fieldwork ./fieldwork
COPY arrears ./arrears
COPY reports ./reports
COPY privacy ./privacy
COPY selfservice ./selfservice
COPY web ./web
RUN pip install .
# The rest (manage.py, gunicorn.conf.py, static/, templates/): .dockerignore keeps development's
# devkit/, tests/, bench/ and docs/ out.
COPY . .
# collectstatic needs settings that import cleanly; these build-time values are never used at run time.
RUN DEBUG=false EMAIL_URL=consolemail:// \
    SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret DATABASE_URL=postgres://build@localhost/build \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktbmV2ZXItdXNlZC1hdC1ydW4= BLIND_INDEX_KEY=build-only-never-used-at-run-time \
    sh -c "python manage.py compile_catalogues && python manage.py collectstatic --noinput"

RUN useradd --create-home --uid 1000 majismart && mkdir -p /app/media && chown -R majismart /app/media
USER majismart
EXPOSE 8000
# gunicorn.conf.py: 3 workers of 4 threads, the redacting access log.
CMD ["gunicorn", "majismart.wsgi:application"]
