"""Demo data for `seed_demo`: two providers with staff of every role and a client login, each
with 30 clients and a year lived month by month (web.demo_year).

Idempotent: what already exists is left as it is (a provider's year is lived once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django_tenants.utils import tenant_context

from accounts.models import Role, User
from majismart.tenancy import connection
from tenants.models import Provider
from tenants.services import provider_create

DEMO_PASSWORD = "maji-demo-2026"
ADMIN_EMAIL = "admin@majismart.demo"

DEMO_PROVIDERS: list[dict[str, Any]] = [
    {"slug": "mombasa-water", "name": "Mombasa Water Works", "phone": "+254711000001",
     "branding": {"address": "P.O. Box 90420-80100\nNkrumah Road, Mombasa", "kra_pin": "P051234567X",
                  "brand_color": "#0d6e9c", "website": "https://mombasa-water.example"}},
    {"slug": "greenpark-estate", "name": "Greenpark Estate Water", "phone": "+254722000002",
     "branding": {"address": "Greenpark Estate, Athi River\nP.O. Box 1200-00204", "kra_pin": "P052345678Y",
                  "brand_color": "#2f7d32", "website": "https://greenpark-estate.example"}},
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
            with tenant_context(demo.provider):  # the logo is stored in the provider's own folder
                brand(demo.provider, spec)
        assert demo is not None
        with tenant_context(demo.provider):
            demo.logins = seed_provider(spec["slug"])
        result.append(demo)
    return result


def seed_provider(slug: str, *, clients: int = 30) -> list[tuple[str, str]]:
    """The current provider's demo: staff of every role and a client login, its register, tariffs,
    SMS and M-Pesa settings, then its year lived month by month (web.demo_year). Each part
    only once. Returns the logins (role, email)."""
    from django.utils import timezone

    from billing.demo import seed_tariffs
    from notifications.demo import register_delivery_reports, seed_notifications
    from payments.demo import seed_mpesa_settings
    from web.demo_year import first_day, simulate

    logins = []
    for local, role, name in DEMO_STAFF:
        email = f"{local}@{slug}.demo"
        if not User.objects.filter(email=email).exists():
            User.objects.create_user(email, DEMO_PASSWORD, full_name=name, role=role)
        logins.append((role.label, email))
    start = first_day(timezone.localdate())
    seed_register(slug, start, clients=clients)
    seed_tariffs(date(start.year, 1, 1))
    seed_mpesa_settings()
    simulate()
    seed_notifications(register=False)  # switched on during the year; here only if it was not
    register_delivery_reports()
    from selfservice.demo import register_with_standin

    register_with_standin()  # the USSD code and SMS number of the stand-in's simulator
    from web.demo_field import seed_field

    seed_field()  # arrears and field work, once the year is lived
    return logins


def demo_logo(name: str, color: str) -> bytes:
    """A logo for a demo provider: a water drop in its colour and its initials (Pillow)."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (360, 120), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.ellipse((14, 44, 82, 112), fill=color)
    draw.polygon([(48, 6), (18, 66), (78, 66)], fill=color)
    initials = "".join(word[0] for word in name.split()[:3]).upper()
    draw.text((100, 38), initials, fill=color, font_size=48)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def brand(provider: Provider, spec: dict) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tenants.services import provider_branding_update

    branding = spec["branding"]
    provider_branding_update(provider=provider, actor="seed_demo", contact_email=f"care@{spec['slug']}.demo",
                             logo=SimpleUploadedFile("logo.png", demo_logo(spec["name"], branding["brand_color"])),
                             **branding)


FIRST = ["Wanjiru", "Otieno", "Achieng", "Kamau", "Njeri", "Mutua", "Chebet", "Kiprono", "Atieno", "Mwangi",
         "Wambui", "Omondi", "Nyambura", "Kibet", "Akinyi", "Karanja", "Jepchirchir", "Ochieng", "Muthoni", "Barasa"]
LAST = ["Kariuki", "Odhiambo", "Wafula", "Njoroge", "Korir", "Macharia", "Onyango", "Mugo", "Rotich", "Nduta"]
ZONES = [("north", "North route"), ("market", "Market route"), ("river", "Riverside route")]
# Each zone's bulk meter (what goes into it) and how much more than its clients use goes in:
# 20–35% is lost on the way (leaks, illegal connections), as Kenyan utilities report.
BULK_INPUT = {"north": Decimal("1.24"), "market": Decimal("1.35"), "river": Decimal("1.29")}
BULK_INITIAL = Decimal("5000.000")
# Institutions the provider may not disconnect (by position in the register): a school and a hospital.
EXEMPT = {7: "Bondeni Primary School", 10: "Tudor Sub-County Hospital"}


def seed_register(slug: str, start: date, clients: int = 30) -> None:
    """Zones, and clients with meters installed on `start`, some bringing a balance from the
    previous system (once per provider). Their readings come month by month (web.demo_year)."""
    from datetime import datetime, time
    from decimal import Decimal

    from clients.models import Category, Client, Zone
    from clients.services import account_numbers_reserve
    from clients.signals import clients_registered
    from meters.models import Meter
    from web.demo_year import NAIROBI

    if Client.objects.exists():
        return
    zones = [Zone.objects.create(code=code, name=name) for code, name in ZONES]
    categories = {c.code: c for c in Category.objects.all()}
    numbers = account_numbers_reserve(clients)
    made = []
    for i in range(clients):
        category = categories["institutional" if i in EXEMPT else "commercial" if i % 7 == 3 else "kiosk" if i % 11 == 5 else "domestic"]
        client = Client.objects.create(
            account_number=numbers[i], full_name=EXEMPT.get(i) or f"{FIRST[i % len(FIRST)]} {LAST[(i * 3) % len(LAST)]}",
            disconnection_exempt=i in EXEMPT,
            phone=f"+2547{(11000000 + i * 7919) % 100000000:08d}", category=category, zone=zones[i % len(zones)],
            location=f"Plot {100 + i}", opening_balance=Decimal(i % 4 * 250))
        made.append(client)
    Meter.objects.bulk_create([Meter(serial=f"{slug[:3].upper()}-{10000 + i}", client=client, installed_on=start,
                                     initial_reading=Decimal(100 + i)) for i, client in enumerate(made)]
                              + [Meter(serial=f"{slug[:3].upper()}-BULK-{zone.code.upper()}", kind=Meter.Kind.BULK,
                                       zone=zone, installed_on=start, initial_reading=BULK_INITIAL) for zone in zones])
    # They joined on `start`: the balances they bring are booked that day, as an import books them.
    joined = datetime.combine(start, time(9), tzinfo=NAIROBI)
    Client.objects.filter(pk__in=[c.pk for c in made]).update(created=joined)
    for client in made:
        client.created = joined
    clients_registered.send(sender=Client, clients=made, actor=None)
    client_user = User.objects.filter(role=Role.CLIENT).first()
    if client_user:
        first = made[0]
        first.user, first.full_name = client_user, client_user.full_name  # one person, one name
        first.save(update_fields=["user", "full_name"])
