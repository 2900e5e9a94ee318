"""Settings and URLconf of the gunicorn server bench/callbacks.py starts (never used in production).

A package rather than bench/*.py modules: bench/run.py runs every bench/*.py as a benchmark."""
