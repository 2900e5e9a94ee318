"""Personas across three providers, created once per test session (real schemas, committed):

- alpha (active): alice (owner), amos (manager), anne (accountant), ari (meter reader),
  carol (client); plus an API key acting as manager.
- beta (active): bob (owner); an API key. Must never see anything of alpha's.
- gamma (suspended): gus (owner).
Each test runs in a transaction that is rolled back; the connection returns to public after.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

PASSWORD = "correct-horse-42"


@dataclass(frozen=True)
class Persona:
    email: str
    role: str
    name: str


ALPHA_PEOPLE = {
    "alice": Persona("alice@alpha.test", "owner", "Alice Achieng"),
    "amos": Persona("amos@alpha.test", "manager", "Amos Mutua"),
    "anne": Persona("anne@alpha.test", "accountant", "Anne Wambui"),
    "ari": Persona("ari@alpha.test", "meter_reader", "Ari Kamau"),
    "carol": Persona("carol@alpha.test", "client", "Carol Chebet"),
}
API_KEYS: dict[str, str] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    from django.test.utils import setup_databases, teardown_databases

    from accounts.models import User
    from accounts.services import api_key_create
    from tenants.models import Provider
    from tenants.services import provider_create, provider_suspend

    own_databases = None
    with django_db_blocker.unblock():
        if not connection.settings_dict["NAME"].startswith("test_"):
            # Only browser tests selected: pytest-django saw no database mark and made no test
            # database, but their server process needs one.
            own_databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        # Never let the suite write personas into a real database.
        assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
        connection.set_schema_to_public()
        if not Provider.objects.filter(slug="alpha").exists():
            alpha = provider_create(name="Alpha Water", slug="alpha", owner_email="alice@alpha.test",
                                    owner_password=PASSWORD, owner_name="Alice Achieng").provider
            provider_create(name="Beta Springs", slug="beta", owner_email="bob@beta.test",
                            owner_password=PASSWORD, owner_name="Bob Barasa")
            gamma = provider_create(name="Gamma Wells", slug="gamma", owner_email="gus@gamma.test",
                                    owner_password=PASSWORD, owner_name="Gus Gitau").provider
            provider_suspend(provider=gamma, actor="conftest", reason="personas")
            with tenant_context(alpha):
                for key, p in ALPHA_PEOPLE.items():
                    if key != "alice":
                        User.objects.create_user(p.email, PASSWORD, full_name=p.name, role=p.role)
            User.objects.create_superuser("root@platform.test", PASSWORD, full_name="Platform Root")
        for slug in ("alpha", "beta"):
            with tenant_context(Provider.objects.get(slug=slug)):
                API_KEYS[slug] = api_key_create(name=f"{slug} field app")[1]
        connection.set_schema_to_public()
    yield
    if own_databases is not None:
        with django_db_blocker.unblock():
            teardown_databases(own_databases, verbosity=0)


@pytest.fixture(autouse=True)
def _back_to_public() -> Iterator[None]:
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield


def _provider(slug: str):  # type: ignore[no-untyped-def]
    from tenants.models import Provider

    return Provider.objects.get(slug=slug)


@pytest.fixture
def alpha(db):  # type: ignore[no-untyped-def]
    return _provider("alpha")


@pytest.fixture
def beta(db):  # type: ignore[no-untyped-def]
    return _provider("beta")


@pytest.fixture
def gamma(db):  # type: ignore[no-untyped-def]
    return _provider("gamma")


def host_of(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


@pytest.fixture
def public_client(db) -> Client:  # type: ignore[no-untyped-def]
    return Client(HTTP_HOST=settings.BASE_DOMAIN)


@pytest.fixture
def alpha_client(alpha) -> Client:  # type: ignore[no-untyped-def]
    return Client(HTTP_HOST=host_of("alpha"))


@pytest.fixture
def beta_client(beta) -> Client:  # type: ignore[no-untyped-def]
    return Client(HTTP_HOST=host_of("beta"))


def login(client: Client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": email, "password": password})


def api_client(slug: str, key: str | None = None) -> APIClient:
    client = APIClient(HTTP_HOST=host_of(slug))
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def alpha_api(alpha) -> APIClient:  # type: ignore[no-untyped-def]
    return api_client("alpha", API_KEYS["alpha"])


@pytest.fixture
def beta_api(beta) -> APIClient:  # type: ignore[no-untyped-def]
    return api_client("beta", API_KEYS["beta"])


@pytest.fixture
def tenant(alpha):  # type: ignore[no-untyped-def]
    """Alpha's schema on 2026-11-23 (time moving on from there), with a domestic tariff
    (up to 10 m³ @ 40, up to 30 @ 55, above @ 70; fixed charge 100)."""
    from tests.billing_helpers import domestic_tariff, travel

    with tenant_context(alpha), travel("2026-11-23"):
        domestic_tariff()
        yield alpha


@pytest.fixture(scope="session")
def s3_server():  # type: ignore[no-untyped-def]
    """A real S3-compatible server (moto's server mode) on a free port, for the session."""
    from devkit.s3 import s3_server as started

    with started() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The default storage on a fresh private bucket of that server, as production configures
    it (majismart.storage.TenantS3Storage: keys under <schema>/); yields the bucket's name.
    The files of this test go with its bucket, as its rolled-back rows do."""
    import uuid

    bucket = f"majismart-test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "majismart.storage.TenantS3Storage", "OPTIONS": s3_server.storage_options(bucket)}}
    yield bucket
    client = s3_server.client()
    for key in s3_server.keys(bucket):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)


# The payments fixtures (Daraja stand-in, callback recorder, Paystack stand-in), for every test.
from tests.notifications_helpers import at  # noqa: E402,F401
from tests.payments_helpers import daraja, paystack, recorder  # noqa: E402,F401
