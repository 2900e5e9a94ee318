"""Helpers for field work tests: a client with a phone (and email), a logged-in person, a photo."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Http

from clients.models import Client
from meters.models import Meter
from tests.accounts.test_authorization_matrix import PNG
from tests.billing_helpers import metered
from tests.conftest import host_of, login


def photo(name: str = "dial.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def as_user(email: str, slug: str = "alpha") -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302, email
    return http


def reachable(name: str = "Faith Wanjiru", *, email: str = "faith@example.com") -> tuple[Client, Meter]:
    client, meter = metered(name)
    client.phone, client.email = "+254712000111", email
    client.save(update_fields=["phone", "email"])
    return client, meter
