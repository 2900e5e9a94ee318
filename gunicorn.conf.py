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


# Prometheus (majismart/metrics.py): with PROMETHEUS_MULTIPROC_DIR set, every worker keeps its
# samples in files there and a scrape adds them up. Last run's files are removed before the
# workers start (prometheus_client's multiprocess mode asks for that); an exited worker's live
# files are tidied.
def on_starting(server):  # type: ignore[no-untyped-def]
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
