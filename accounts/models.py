from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.indexes import OpClass
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

from majismart.crypto import EncryptedTextField, blind_index, keyed_digest


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    ACCOUNTANT = "accountant", "Accountant"
    METER_READER = "meter_reader", "Meter reader"
    CLIENT = "client", "Client"


STAFF_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=(username or "").strip().lower())

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=email.strip().lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Role.OWNER)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]  # django-otp devices: untyped
    """A person who logs in: provider staff or a client (in a provider schema), or a platform
    admin (in the public schema). Every schema has its own users table."""

    email = models.EmailField(unique=True)
    # A person's name is personal data: encrypted at rest (so it cannot be searched or ordered
    # by in SQL; the login email stays clear). max_length reaches the form fields, the validator
    # full_clean().
    full_name = EncryptedTextField(max_length=150, blank=True, default="", validators=[MaxLengthValidator(150)])
    phone = EncryptedTextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLIENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Platform admin (Django admin access).")
    date_joined = models.DateTimeField(default=timezone.now)
    # Moved on by "sign out of my other sessions" and by deactivation: every session whose auth
    # hash was minted before ends at its next request (whatever the session engine).
    session_version = models.PositiveIntegerField(default=0, editable=False)
    # A staff member's own language for the dashboard ("": the provider's default); chosen on
    # their profile page. A client's is on their Client record.
    language = models.CharField(max_length=8, blank=True, default="", db_default="",
                                choices=[("", "Provider's default"), *settings.LANGUAGES])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.strip().lower()
        self.phone_index = blind_index(self.phone) if self.phone else ""
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = {*update_fields, "phone_index"}
        super().save(*args, **kwargs)

    @property
    def is_provider_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's hash (of the password hash) for version 0, so sessions from before survive.
        if not self.session_version:
            return super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        return salted_hmac(key_salt, f"{self.password}:{self.session_version}", secret=secret,
                           algorithm="sha256").hexdigest()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]


API_KEY_PREFIX = "mjs"


def hash_api_key(raw: str) -> str:
    # API keys are 256-bit random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


class APIKeyQuerySet(models.QuerySet["APIKey"]):
    def active(self) -> APIKeyQuerySet:
        return self.filter(revoked_at__isnull=True)

    def verify(self, raw: str) -> APIKey | None:
        parts = raw.split("_")
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
            return None
        key = self.active().filter(prefix=parts[1]).first()
        if key is None or not hmac.compare_digest(key.hashed_key, hash_api_key(raw)):
            return None
        return key


class APIKey(models.Model):
    """A provider's key for the REST API. Only its hash is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    role = models.CharField(
        max_length=20,
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES],
        default=Role.MANAGER,
        help_text="The key acts with this role's permissions.",
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = APIKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({API_KEY_PREFIX}_{self.prefix}_…)"

    @staticmethod
    def generate() -> tuple[str, str]:
        prefix = secrets.token_hex(4)
        return prefix, f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32).replace('_', 'x')}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditCategory(models.TextChoices):
    ACCESS = "access", "Viewed personal data"
    CHANGE = "change", "Changed data"
    EXPORT = "export", "Export"
    AUTH = "auth", "Login and logout"
    API = "api", "API key use"
    SETTINGS = "settings", "Settings"
    PRIVACY = "privacy", "Privacy requests"


class AuditEvent(models.Model):
    """Who saw or changed what in a provider: personal data viewed or changed, exports, logins,
    API key use, settings. Append-only: a trigger (migration 0002) refuses UPDATE and DELETE
    unless the transaction set `majismart.audit_purge` (accounts.services.audit_purge_before).

    object_repr and extra_data never hold personal values (names, phones): account numbers,
    ids and the names of the fields that changed. The IP address and user agent are usage
    data about a person, so they are encrypted at rest."""

    actor = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=60)
    category = models.CharField(max_length=20, choices=AuditCategory.choices, default=AuditCategory.CHANGE)
    object_repr = models.CharField(max_length=200, blank=True)
    target_type = models.CharField(max_length=40, blank=True, default="")
    target_id = models.BigIntegerField(null=True, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)
    ip = EncryptedTextField(blank=True, default="")
    user_agent = EncryptedTextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created"], name="audit_target_idx"),
            models.Index(fields=["category", "-created"], name="audit_category_idx"),
            models.Index(fields=["actor", "-created"], name="audit_actor_idx"),
            # The viewer's "Who" filter matches the start of the actor, any case (istartswith:
            # UPPER(actor) LIKE 'X%'): a pattern index on that expression serves it.
            models.Index(OpClass(Upper("actor"), name="text_pattern_ops"), name="audit_actor_upper_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_repr}"


INVITE_DAYS = 7


def hash_invite_token(raw: str) -> str:
    # 256-bit random tokens: a fast hash is enough (nothing to guess from a dictionary).
    return hashlib.sha256(raw.encode()).hexdigest()


class StaffInviteQuerySet(models.QuerySet["StaffInvite"]):
    def pending(self) -> StaffInviteQuerySet:
        """Neither accepted nor revoked (expired ones included: they can be resent)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class StaffInvite(models.Model):
    """An invitation to join the provider's staff. The invited person's User exists from the
    invitation on (inactive, no password, so the API and the team page have one id for them);
    the single-use link (only its hash is stored) lets them set a name and password within
    INVITE_DAYS, which activates it. Resending makes a new link and kills the old one."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        EXPIRED = "expired", "Expired"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invites")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES])
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = StaffInviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"invite {self.pk}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.PENDING


# --- two-factor authentication (accounts/two_factor.py) ----------------------------------------
# django-otp's device framework (throttling, "verified" sessions, its admin site) with devices of
# our own: the stock TOTP device keeps its secret in clear and the stock static device keeps
# recovery codes in clear. Here the authenticator secret is encrypted at rest like every other
# secret (FIELD_ENCRYPTION_KEYS, rotated by rotate_encryption_keys) and a recovery code is kept
# only as a keyed digest (like an API key's hash): a copy of the database gives neither away.
# Both live in every schema, beside the users they belong to.

TOTP_STEP = 30
TOTP_DIGITS = 6


class AuthenticatorDevice(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (TOTP, RFC 6238: 30-second steps, 6 digits, SHA-1, as every app reads
    an otpauth:// QR code). Unconfirmed until the user types a code it shows."""

    key = EncryptedTextField(help_text="The shared secret, hex, encrypted at rest.")
    tolerance: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(default=1, help_text="Steps either side accepted.")
    drift: models.SmallIntegerField[int, int] = models.SmallIntegerField(default=0, help_text="Steps the user's clock is known to be off.")
    last_t: models.BigIntegerField[int, int] = models.BigIntegerField(default=-1, help_text="The step of the last code accepted: never twice.")

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    def get_throttle_factor(self) -> int:
        return 1  # 1, 2, 4, 8... seconds between tries after failures

    @property
    def bin_key(self) -> bytes:
        from binascii import unhexlify

        return unhexlify(self.key.encode())

    def verify_token(self, token: object) -> bool:
        import time

        from django_otp.oath import TOTP

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = str(token).strip().replace(" ", "")
        verified = False
        if code.isdigit() and len(code) == TOTP_DIGITS:
            totp = TOTP(self.bin_key, TOTP_STEP, 0, TOTP_DIGITS, self.drift)
            totp.time = time.time()
            verified = totp.verify(int(code), self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's one-time recovery codes, for when the phone is lost. Each code works once."""

    class Meta(Device.Meta):
        verbose_name = "recovery codes"

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token: object) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        # Spent by the DELETE itself: two simultaneous uses of one code cannot both succeed.
        spent, _ = self.codes.filter(digest=recovery_code_digest(str(token))).delete()
        if spent:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False


def recovery_code_normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_digest(code: str) -> str:
    return keyed_digest("recovery-code:" + recovery_code_normalise(code))


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, related_name="codes", on_delete=models.CASCADE)
    digest = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"recovery code {self.pk}"
