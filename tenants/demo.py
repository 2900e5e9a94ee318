"""Demo data for `seed_demo`: two providers with staff of every role and a client login.

Idempotent: providers that already exist are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django_tenants.utils import tenant_context

from accounts.models import Role, User
from tenants.models import Provider
from tenants.services import provider_create

DEMO_PASSWORD = "maji-demo-2026"
ADMIN_EMAIL = "admin@majismart.demo"

DEMO_PROVIDERS = [
    {"slug": "mombasa-water", "name": "Mombasa Water Works", "phone": "+254711000001"},
    {"slug": "greenpark-estate", "name": "Greenpark Estate Water", "phone": "+254722000002"},
]
DEMO_STAFF = [
    ("owner", Role.OWNER, "Amina Odhiambo"),
    ("manager", Role.MANAGER, "Brian Mwangi"),
    ("accounts", Role.ACCOUNTANT, "Cynthia Wanjiru"),
    ("reader", Role.METER_READER, "David Kiprop"),
    ("client", Role.CLIENT, "Esther Njeri"),
]


@dataclass
class DemoProvider:
    provider: Provider
    logins: list[tuple[str, str]] = field(default_factory=list)
    created: bool = False


def seed() -> list[DemoProvider]:
    connection.set_schema_to_public()
    if not User.objects.filter(email=ADMIN_EMAIL).exists():
        User.objects.create_superuser(ADMIN_EMAIL, DEMO_PASSWORD, full_name="Platform Admin")
    result = []
    for spec in DEMO_PROVIDERS:
        provider = Provider.objects.filter(slug=spec["slug"]).first()
        demo = DemoProvider(provider=provider) if provider else None
        if provider is None:
            created = provider_create(
                name=spec["name"], slug=spec["slug"],
                owner_email=f"owner@{spec['slug']}.demo", owner_password=DEMO_PASSWORD,
                owner_name=DEMO_STAFF[0][2], owner_phone=spec["phone"], actor="seed_demo",
            )
            demo = DemoProvider(provider=created.provider, created=True)
        assert demo is not None
        with tenant_context(demo.provider):
            for local, role, name in DEMO_STAFF:
                email = f"{local}@{spec['slug']}.demo"
                if not User.objects.filter(email=email).exists():
                    User.objects.create_user(email, DEMO_PASSWORD, full_name=name, role=role)
                demo.logins.append((role.label, email))
        result.append(demo)
    return result
