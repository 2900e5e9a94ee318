from __future__ import annotations

import re
import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.postgresql_backend.base import is_valid_schema_name
from django_tenants.utils import schema_exists

from majismart.crypto import EncryptedTextField
from tenants.clones import clone_template

PUBLIC_SLUG = "public"
TEMPLATE_SCHEMA = "tenant_base"
# The first recorded version of the privacy policy and terms (tenants/migrations/0005): what
# sign-ups accepted before versions were kept, and the fallback while none is published.
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
    # Staff roles whose users must use two-factor authentication (Settings → Security, by the
    # owner). Here, on the row every request loads anyway, so enforcing it costs no query.
    two_factor_roles = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    # What its clients and staff get when they have chosen no language (Settings → Provider details).
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en", db_default="en",
                                help_text="The language of clients and staff who have not chosen one.")

    auto_create_schema = True
    auto_drop_schema = False

    def create_schema(self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1) -> bool:
        """The schema, a copy of the template made by `tenants.clones.clone_template`: the
        template's definitions under their own names and its rows, in one transaction, at a cost
        that does not grow with the number of schemas (django-tenants' pg-clone-schema clone took
        2 s with five providers and 7-18 s with sixty, and gave unique constraints other names).

        django-tenants would then run `migrate_schemas --fake` on the new schema: half a second of
        a provider's creation, for nothing when the template is current (the clone copied its
        django_migrations), and wrong when it is not (it would record as applied a migration whose
        tables the clone lacks). Without it, a clone records exactly what it has, and the next
        `migrate_schemas` applies the rest. Without a template, django-tenants migrates the schema.
        """
        if (not sync_schema or not settings.TENANT_CREATION_FAKES_MIGRATIONS or self.schema_name == TEMPLATE_SCHEMA
                or not schema_exists(TEMPLATE_SCHEMA)):
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        if not is_valid_schema_name(self.schema_name):
            raise ValidationError("Invalid string used for the schema name.")
        clone_template(TEMPLATE_SCHEMA, self.schema_name)
        return True

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


# --- privacy policy and terms: versions in the public schema -------------------------------------
POLICY_VERSION_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[0-9]{1,2})?$"
MSG_POLICY_VERSION = "Name the version by its date, e.g. 2026-12-01 (or 2026-12-01.2 for a second one that day)."
# A path on this site (one slash: "//host" and "/\host" are other sites to a browser) or https.
_POLICY_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:/(?![/\\])|https://)[^)\s\\]*)\)")


def _policy_inline(text: str) -> str:
    return _POLICY_LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', str(escape(text)))


def policy_text_html(body: str) -> SafeString:
    """A policy text as HTML: blocks separated by blank lines; a block starting with "## " is a
    heading; a block whose every line starts with "- " is a list; [words](/path or https://…) is
    a link. Everything else is escaped, so a platform admin's typing can never put markup or
    script on a page."""
    parts = []
    for block in re.split(r"\n\s*\n", body.replace("\r\n", "\n").strip()):
        block = block.strip()
        if not block:
            continue
        if block.startswith("## "):
            parts.append(f"<h2>{escape(block[3:].strip())}</h2>")
            continue
        lines = [line.strip() for line in block.split("\n")]
        if all(line.startswith("- ") for line in lines):
            items = "".join(f"<li>{_policy_inline(line[2:].strip())}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
            continue
        parts.append(f"<p>{_policy_inline(block).replace(chr(10), '<br>')}</p>")
    return mark_safe("\n".join(parts))  # noqa: S308 - every piece above is escaped


class PolicyVersion(models.Model):
    """One version of MajiSmart's privacy policy or terms of service. Drafts (no published_at)
    are edited by platform admins; a published version never changes, and the latest published
    one of each kind is the one in force."""

    class Kind(models.TextChoices):
        PRIVACY = "privacy", "Privacy policy"
        TERMS = "terms", "Terms of service"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    version = models.CharField(max_length=20, validators=[RegexValidator(POLICY_VERSION_RE, MSG_POLICY_VERSION)],
                               help_text="The version's date, e.g. 2026-12-01.")
    title = models.CharField(max_length=120)
    summary = models.TextField(help_text="What changed since the previous version, in a few plain sentences "
                                         "(shown when users are asked to accept, and in the notice email).")
    body = models.TextField(help_text='Plain text. A blank line starts a new paragraph; a paragraph starting with '
                                      '"## " is a heading; lines starting with "- " make a list; [words](/path) or '
                                      '[words](https://…) makes a link.')
    # Off only for the first recorded versions: what users had agreed to before versions were kept.
    asks_acceptance = models.BooleanField(default=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    published_by = models.CharField(max_length=254, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-published_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="one_policy_version_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}{'' if self.published_at else ' (draft)'}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def body_html(self) -> SafeString:
        return policy_text_html(self.body)


# --- task messages the broker could not take ------------------------------------------------------
class UnsentTask(models.Model):
    """A Celery message that could not be handed to the broker (Redis down or cut off), kept so
    that nothing depends on one message: `tenants.tasks.send_unsent` sends it, in the schema it
    was meant for, as soon as the broker takes messages again (tenants.outbox). Its arguments
    are encrypted (a task may carry a one-time code); the same message kept twice is kept once."""

    schema_name = models.CharField(max_length=63)
    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64)
    payload = EncryptedTextField(help_text="args, kwargs and eta, as JSON, encrypted")
    fingerprint = models.CharField(max_length=64, unique=True,
                                   help_text="keyed hash of schema, task and arguments: one row per message")
    eta = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.task_name} for {self.schema_name} (kept {self.created:%Y-%m-%d %H:%M})"
