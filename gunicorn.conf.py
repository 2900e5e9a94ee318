"""gunicorn's settings for MajiSmart: every gunicorn started in this directory reads them
(Procfile, the Dockerfile, docker-compose.yml, bench/callbacks.py); command-line options win.

Threads: a request waiting on PostgreSQL (the payment callbacks' durable INSERT and commit) lets
the worker serve others meanwhile. bench/callbacks.py measured, on 2 CPUs shared with the load,
PostgreSQL and Redis, the C2B confirmation endpoint at 0.62 of a bare view with 3 sync workers
and 0.75 with 3 workers of 4 threads (each thread holds its own database connection).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
accesslog = "-"
# The access and error logs mask credentials in paths (callback tokens, pay links...) and every
# query-string value (dashboard searches): majismart/log_redaction.py, the rule Django's logs use too.
logger_class = "majismart.gunicorn_logging.RedactingLogger"
