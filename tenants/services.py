"""Writes for providers: creation (schema, domain, owner), suspension, reactivation, and the
details and branding printed on bills."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists, tenant_context

from accounts.models import Role, User
from majismart.phones import normalize_phone
from majismart.storage import files_delete_on_commit
from tenants.models import TEMPLATE_SCHEMA, Domain, PolicyVersion, Provider, ProviderEvent
from tenants.selectors import policy_cache_clear, provider_domain_name

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
MSG_SLUG_FORMAT = (
    "Use 3–40 lowercase letters, digits or hyphens, starting with a letter and not ending "
    "with a hyphen."
)
MSG_SLUG_RESERVED = "This subdomain is reserved. Please choose another."
MSG_SLUG_TAKEN = "This subdomain is already taken."
MSG_NAME_TAKEN = "A provider with this business name is already registered."
# Serialises provider creation: django-tenants (re)creates its clone_schema() SQL function on
# every clone, and two concurrent sign-ups would race on that DDL.
_CREATE_LOCK_ID = 7_302_001


def validate_subdomain(slug: str) -> None:
    if not SLUG_RE.match(slug) or "--" in slug:
        raise ValidationError(MSG_SLUG_FORMAT, code="format")
    if slug in settings.RESERVED_SUBDOMAINS or slug.startswith("pg"):
        raise ValidationError(MSG_SLUG_RESERVED, code="reserved")
    if Provider.objects.filter(slug=slug).exists() or Provider.objects.filter(schema_name=slug).exists():
        raise ValidationError(MSG_SLUG_TAKEN, code="taken")
    if Domain.objects.filter(domain=provider_domain_name(slug)).exists():
        raise ValidationError(MSG_SLUG_TAKEN, code="taken")
    # A schema left behind by a deleted provider must never be adopted by a stranger: it still
    # holds the old provider's users and data.
    if schema_exists(slug):
        raise ValidationError(MSG_SLUG_TAKEN, code="taken")


def validate_business_name(name: str) -> None:
    if Provider.objects.filter(name__iexact=name.strip()).exists():
        raise ValidationError(MSG_NAME_TAKEN, code="taken")


_template_checked = False  # per process: new migrations only arrive with a deploy, i.e. a restart


def _template_is_current() -> bool:
    global _template_checked
    if _template_checked:
        return True
    from django.db.migrations.executor import MigrationExecutor

    with schema_context(TEMPLATE_SCHEMA):
        executor = MigrationExecutor(connection)
        current = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    _template_checked = current
    return current


def template_schema_ensure() -> None:
    """Make sure the empty schema new providers are cloned from exists and is fully migrated.

    Cloning copies django_migrations too, so a template behind the code would hand every new
    provider migrations marked applied whose tables were never made.
    """
    if Provider.objects.filter(schema_name=TEMPLATE_SCHEMA).exists() and schema_exists(TEMPLATE_SCHEMA):
        if not _template_is_current():
            call_command("migrate_schemas", schema_name=TEMPLATE_SCHEMA, verbosity=0, interactive=False)
            global _template_checked
            _template_checked = True
        return
    Provider.objects.filter(schema_name=TEMPLATE_SCHEMA).delete()
    template = Provider(
        schema_name=TEMPLATE_SCHEMA,
        slug="tenant-base",
        name="(template schema)",
        is_template=True,
    )
    template.save(verbosity=0)


@dataclass(frozen=True)
class CreatedProvider:
    provider: Provider
    owner: User
    seconds: float


def provider_create(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str,
    owner_name: str = "",
    owner_phone: str = "",
    actor: str = "",
    consent: dict[str, object] | None = None,
) -> CreatedProvider:
    """Create the provider, its schema (cloned from the template), its domain and its owner."""
    started = time.perf_counter()
    name = name.strip()
    validate_subdomain(slug)
    validate_business_name(name)
    try:
        password_validation.validate_password(owner_password, User(email=owner_email, full_name=owner_name))
    except ValidationError as exc:
        raise ValidationError({"owner_password": exc.messages}) from exc
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATE_LOCK_ID])
        # Again, under the lock: a concurrent sign-up may have won the slug or the name.
        validate_subdomain(slug)
        validate_business_name(name)
        if settings.TENANT_CREATION_FAKES_MIGRATIONS:
            template_schema_ensure()
        provider = Provider(
            schema_name=slug,
            slug=slug,
            name=name,
            contact_email=owner_email.strip().lower(),
            contact_phone=owner_phone,
        )
        provider.save(verbosity=0)
        Domain.objects.create(domain=provider_domain_name(slug), tenant=provider, is_primary=True)
        with tenant_context(provider):
            owner = User.objects.create_user(
                email=owner_email,
                password=owner_password,
                full_name=owner_name,
                phone=owner_phone,
                role=Role.OWNER,
            )
        ProviderEvent.objects.create(
            provider=provider, action="created", actor=actor or owner.email,
            extra_data={"domain": provider.domain, **({"consent": consent} if consent else {})},
        )
    return CreatedProvider(provider=provider, owner=owner, seconds=time.perf_counter() - started)


@transaction.atomic
def provider_suspend(*, provider: Provider, actor: str, reason: str = "") -> Provider:
    if provider.is_platform or provider.is_template:
        raise ValidationError("The platform itself cannot be suspended.")
    before = provider.status
    provider.status = Provider.Status.SUSPENDED
    provider.save(update_fields=["status"])
    ProviderEvent.objects.create(
        provider=provider, action="suspended", actor=actor,
        extra_data={"before": before, "after": provider.status, "reason": reason},
    )
    return provider


@transaction.atomic
def provider_reactivate(*, provider: Provider, actor: str) -> Provider:
    before = provider.status
    provider.status = Provider.Status.ACTIVE
    provider.save(update_fields=["status"])
    ProviderEvent.objects.create(
        provider=provider, action="reactivated", actor=actor,
        extra_data={"before": before, "after": provider.status},
    )
    return provider


# --- details and branding (printed on bills, receipts and statements) ---------------------------
LOGO_MAX_BYTES = 1024 * 1024
LOGO_MIN_SIDE, LOGO_MAX_SIDE = 32, 3000
MSG_LOGO_TYPE = "The logo must be a PNG or JPEG image."
MSG_LOGO_SIZE = "The logo must be at most 1 MB."
MSG_LOGO_PIXELS = f"The logo must be between {LOGO_MIN_SIDE} and {LOGO_MAX_SIDE} pixels on each side."
BRANDING_FIELDS = ("address", "kra_pin", "brand_color", "website", "contact_email", "contact_phone", "language")


def logo_check(upload: object) -> object:
    """A logo is judged by its bytes, never its name or the browser's word: a PNG or JPEG that
    Pillow can read, at most 1 MB, of sensible dimensions. Renamed with its real extension."""
    from PIL import Image, UnidentifiedImageError

    if getattr(upload, "size", 0) > LOGO_MAX_BYTES:
        raise ValidationError(MSG_LOGO_SIZE, code="size")
    upload.seek(0)  # type: ignore[attr-defined]
    try:
        # open() reads the header only, so a huge "decompression bomb" is refused by its size
        # below before any pixel is decoded; verify() then walks the file's structure.
        with Image.open(upload) as image:  # type: ignore[arg-type]
            kind, (width, height) = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(MSG_LOGO_TYPE, code="type") from exc
    finally:
        upload.seek(0)  # type: ignore[attr-defined]
    if kind not in ("PNG", "JPEG"):
        raise ValidationError(MSG_LOGO_TYPE, code="type")
    if not (LOGO_MIN_SIDE <= width <= LOGO_MAX_SIDE and LOGO_MIN_SIDE <= height <= LOGO_MAX_SIDE):
        raise ValidationError(MSG_LOGO_PIXELS, code="pixels")
    upload.name = "logo.png" if kind == "PNG" else "logo.jpg"  # type: ignore[attr-defined]
    return upload


def _clean_branding(fields: dict[str, object]) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if name not in BRANDING_FIELDS:
            raise TypeError(f"{name} is not a branding field")
        text = str(value or "").strip()
        try:
            if name == "kra_pin":
                text = text.upper()  # stored upper-case, however it was typed
            elif name == "brand_color":
                text = text.lower() or Provider._meta.get_field("brand_color").default
            elif name == "contact_email":
                text = text.lower()
            elif name == "contact_phone":
                text = normalize_phone(text)
            elif name == "language":
                text = text or Provider._meta.get_field("language").default
        except ValidationError as exc:
            errors[name] = exc.messages
        cleaned[name] = text
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def provider_branding_update(*, provider: Provider, actor: object, logo: object = None, remove_logo: bool = False,
                             **fields: object) -> Provider:
    """Save the details printed on bills (address, KRA PIN, colour, website, contacts) and the
    logo. Audited with the names of the fields that changed and their values, except the phone
    and email (they may be a person's). A replaced logo's file is deleted once the change has
    committed."""
    from accounts.services import audit

    cleaned = _clean_branding(fields)
    if logo is not None:
        try:
            logo_check(logo)
        except ValidationError as exc:
            raise ValidationError({"logo": exc.messages}) from exc
    # Two owners saving at once: the later one sees the first one's values for its audit.
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    before = {name: getattr(provider, name) for name in cleaned}
    for name, value in cleaned.items():
        setattr(provider, name, value)
    provider.full_clean(exclude=[f.name for f in Provider._meta.fields if f.name not in cleaned], validate_unique=False)
    changed = sorted(name for name in cleaned if before[name] != cleaned[name])
    old_logo = provider.logo.name
    if logo is not None:
        provider.logo.save(logo.name, logo, save=False)  # type: ignore[attr-defined]
        changed.append("logo")
    elif remove_logo and old_logo:
        provider.logo = ""
        changed.append("logo")
    if not changed:
        return provider
    provider.save(update_fields=[*cleaned, "logo"])
    if "logo" in changed and old_logo:
        files_delete_on_commit([old_logo], provider.logo.storage)  # the admin commits outside the schema
    # Contacts may be a person's: only their names are kept.
    shown = [n for n in changed if n in cleaned and n not in ("contact_phone", "contact_email")]
    audit(actor=actor, action="provider.branding_changed", object_repr=provider.name, fields=changed,
          before={n: before[n] for n in shown}, after={n: cleaned[n] for n in shown})
    return provider


# --- policy versions ----------------------------------------------------------------------------
MSG_POLICY_PUBLISHED = "This version is published already; publish a new version instead."
MSG_POLICY_OLDER = "A newer {kind} ({version}) is published already: give this one a later date."


def policy_version_publish(*, version: PolicyVersion, actor: object) -> PolicyVersion:
    """Put a draft in force: from now on it is the current version of its kind, every active
    provider's users are emailed about it, and each is asked to accept it at their next login."""
    from accounts.services import audit

    with transaction.atomic():
        # Two admins publishing the same draft at once: the second finds it published.
        version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
        if version.is_published:
            raise ValidationError(MSG_POLICY_PUBLISHED, code="published")
        newer = (PolicyVersion.objects.filter(kind=version.kind, published_at__isnull=False,
                                              version__gte=version.version).first())
        if newer is not None:
            raise ValidationError(MSG_POLICY_OLDER.format(kind=version.get_kind_display().lower(),
                                                          version=newer.version), code="older")
        version.full_clean()
        version.published_at = timezone.now()
        version.published_by = str(getattr(actor, "email", actor) or "")
        version.save(update_fields=["published_at", "published_by"])
        audit(actor=actor, action="policy.published", object_repr=str(version), kind=version.kind,
              version=version.version)
        version_id = version.pk

        def after_commit() -> None:
            # Importing tasks also registers policy_notice_task (autodiscovery is lazy).
            from tenants.tasks import fan_out

            policy_cache_clear()
            fan_out.delay("tenants.tasks.policy_notice_task", version_id)

        transaction.on_commit(after_commit)
    policy_cache_clear()
    return version
