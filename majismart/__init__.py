# Load the Celery app with Django, so @shared_task binds to it (its broker, eager mode, tenancy).
from majismart.celery import app as celery_app

__all__ = ["celery_app"]
