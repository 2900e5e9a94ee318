from __future__ import annotations

import secrets
import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.utils.functional import cached_property
from django_tenants.models import DomainMixin, TenantMixin

from majismart.crypto import EncryptedTextField

PUBLIC_SLUG = "public"
TEMPLATE_SCHEMA = "tenant_base"
# The privacy policy and terms a sign-up accepts (templates/public/privacy.html, terms.html).
POLICY_VERSION = "2026-11-23"


# Safaricom refuses callback URLs containing these words anywhere, the token included.
CALLBACK_BANNED_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")


def new_callback_token() -> str:
    while True:
        token = secrets.token_urlsafe(24)
        if not any(word in token.lower() for word in CALLBACK_BANNED_WORDS):
            return token


# The dashboard's primary blue (static/css/app.css --blue-600): a provider's colour until it picks one.
DEFAULT_BRAND_COLOR = "#1170ad"
# A KRA PIN: a letter (P for companies, A for individuals), nine digits, a check letter.
KRA_PIN_RE = r"^[A-Z][0-9]{9}[A-Z]$"
MSG_KRA_PIN = "A KRA PIN is a letter, nine digits and a letter, e.g. P051234567X."
MSG_BRAND_COLOR = "Give the colour as #RRGGBB, e.g. #1170ad."


def logo_upload_to(provider: Provider, filename: str) -> str:
    # A fresh name per upload: browsers and PDFs never keep showing a replaced logo. The default
    # storage (TenantFileSystemStorage) puts it under MEDIA_ROOT/<schema>/.
    extension = "jpg" if filename.lower().endswith((".jpg", ".jpeg")) else "png"
    return f"branding/logo-{uuid.uuid4().hex[:12]}.{extension}"


class Provider(TenantMixin):
    """A water service provider: one PostgreSQL schema (named after its slug) and one domain."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = EncryptedTextField(blank=True, default="")
    # Printed on bills, receipts and statements (billing/documents.py).
    address = models.TextField(blank=True, help_text="Postal and physical address, as printed on bills.")
    kra_pin = models.CharField("KRA PIN", max_length=11, blank=True,
                               validators=[RegexValidator(KRA_PIN_RE, MSG_KRA_PIN)])
    brand_color = models.CharField(max_length=7, default=DEFAULT_BRAND_COLOR,
                                   validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", MSG_BRAND_COLOR)])
    website = models.URLField(blank=True)
    # PNG or JPEG, checked by its bytes (tenants.services.logo_check) wherever it is uploaded.
    logo = models.FileField(upload_to=logo_upload_to, blank=True, max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    # The migrated, empty schema new providers are cloned from; never served, never billed.
    is_template = models.BooleanField(default=False, editable=False)
    # Secret path segment of the M-Pesa callback URLs (shared/API.md).
    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    @property
    def is_platform(self) -> bool:
        return self.schema_name == "public"

    @cached_property
    def domain(self) -> str:
        primary = self.get_primary_domain()
        return primary.domain if primary else ""


class Domain(DomainMixin):
    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class ProviderEvent(models.Model):
    """Platform audit trail: who created, suspended or reactivated a provider, and why."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=40)
    actor = models.CharField(max_length=254, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.provider} {self.action}"
