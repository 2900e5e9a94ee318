"""A client opens their own portal login: they name their account number and the phone number
or email the provider has on file, receive a 6-digit code there, and then choose a password,
attest they are 18 or older and accept the terms and privacy policy in force.

Nobody learns whether an account exists: step 1 answers the same either way, and only someone
holding the code hears that the account has a login already. That answer never says a code was
sent, only that one was if both match, and what to do when none arrives (ask the provider to put
the number or email on the account). Two cases say plainly that no code went out: SMS codes
while the provider has no SMS set up (the same for every account number, so it tells nothing),
and a code whose sending failed (told only to whoever typed an account number with its own
phone or email on file, the one case where "we have sent" would be false). Codes are kept hashed in the
(database-backed) session, tried at most MAX_TRIES times, and expire after CODE_MINUTES; codes
are sent at most so many times per account number and per IP address an hour (the cache).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from accounts.models import Role, User
from accounts.services import audit
from clients.models import Client
from majismart.crypto import blind_index
from majismart.phones import normalize_phone
from majismart.tenancy import connection
from notifications.models import Channel, Message, NotificationSettings
from notifications.services import Outgoing, send_now
from privacy.policy import policy_accept
from tenants.forms import AdultWithPasswordMixin
from tenants.selectors import current_policy_versions

SESSION_KEY = "registration"
CODE_MINUTES = 15
MAX_TRIES = 5
CODES_PER_ACCOUNT_PER_HOUR = 3
CODES_PER_IP_PER_HOUR = 10

MSG_CONTACT = "Enter the phone number (e.g. 0712 345 678) or the email address your provider has for you."
MSG_TOO_MANY = "Too many codes were asked for. Please wait an hour and try again."
MSG_BAD_CODE = "That code is not right, or it has expired. Check the message, or ask for a new code."
MSG_NO_CODE = "Your registration has expired. Please start again."
MSG_TOO_MANY_TRIES = "Too many wrong codes. Please ask for a new code."
MSG_HAS_LOGIN = "This account already has a portal login. Log in, or reset your password if you have forgotten it."
MSG_EMAIL_TAKEN = "A login with this email exists already. Log in, or use another email."
MSG_ADULT = "You must be 18 or older to open an online account."
MSG_ACCEPT = "Please accept the terms of service and the privacy policy to continue."
MSG_PASSWORD_MISMATCH = "The two passwords do not match."
# {provider}: its name; {contact}: " at <its phone> or <its email>", or nothing; {what}: "phone
# number" or "email address".
MSG_NO_SMS = ("We cannot send you a code by SMS: {provider} has not set up text messages. Enter the email "
              "address on your account instead, or ask {provider}{contact} to add one.")
MSG_MAYBE_SENT = ("If the account number and the {what} match what {provider} has on record, we have sent a "
                  "6-digit code there. It expires in 15 minutes. No code after a few minutes? {provider} may not "
                  "have this {what} on your account: ask {provider}{contact} to add it, then start again.")
MSG_NOT_SENT = ("We could not send you a code. Ask {provider}{contact} to check the {what} on your account, "
                "then start again.")


class RegistrationError(Exception):
    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def registration_message(template: str, channel: str) -> str:
    """One of the MSG_* above for this provider: how its clients reach it."""
    tenant = connection.tenant
    ways = [way for way in (getattr(tenant, "contact_phone", ""), getattr(tenant, "contact_email", "")) if way]
    return template.format(provider=tenant.name, contact=f" at {' or '.join(ways)}" if ways else "",
                           what="phone number" if channel == Channel.SMS else "email address")


# --- forms -------------------------------------------------------------------------------------
class StartForm(forms.Form):
    account_number = forms.CharField(max_length=30, label=gettext_lazy("Account number"),
                                     widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}))
    contact = forms.CharField(max_length=254, label=gettext_lazy("Phone number or email on your account"),
                              widget=forms.TextInput(attrs={"autocomplete": "tel"}))

    def clean_account_number(self) -> str:
        return "".join(self.cleaned_data["account_number"].split()).upper()

    def clean_contact(self) -> tuple[str, str]:
        """(channel, normalised value): an email when it has an @, else a Kenyan phone number."""
        raw = self.cleaned_data["contact"].strip()
        if "@" in raw:
            try:
                forms.EmailField().clean(raw)
            except ValidationError as exc:
                raise ValidationError(MSG_CONTACT, code="contact") from exc
            return Channel.EMAIL, raw.lower()
        try:
            phone = normalize_phone(raw)
        except ValidationError as exc:
            raise ValidationError(MSG_CONTACT, code="contact") from exc
        if not phone:
            raise ValidationError(MSG_CONTACT, code="contact")
        return Channel.SMS, phone


class FinishForm(AdultWithPasswordMixin, forms.Form):
    msg_adult, msg_accept, msg_mismatch = MSG_ADULT, MSG_ACCEPT, MSG_PASSWORD_MISMATCH
    code = forms.CharField(max_length=6, min_length=6, label=gettext_lazy("6-digit code"),
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}))
    email = forms.EmailField(label=gettext_lazy("Your email (you log in with it)"))
    password1 = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=gettext_lazy("Confirm password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    adult = forms.BooleanField(label=gettext_lazy("I am 18 or older"), required=False)
    accept = forms.BooleanField(label=gettext_lazy("I accept the terms of service and the privacy policy"), required=False)

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise ValidationError(MSG_BAD_CODE, code="code")
        return code

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_accept(self) -> bool:
        return self.accepted("accept")

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # Form.clean() returns cleaned_data
        self.check_passwords(data, email=str(data.get("email", "")))
        return data


# --- step 1: the code --------------------------------------------------------------------------
def _code_hash(client_id: int | None, code: str) -> str:
    key = f"{settings.SECRET_KEY}:registration:{connection.schema_name}".encode()
    return hmac.new(key, f"{client_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _count(key: str, limit: int) -> bool:
    """Count one more code under `key` for the hour; False when the limit is reached already."""
    cache.add(key, 0, timeout=3600)
    if int(cache.get(key, 0)) >= limit:
        return False
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
    return True


def _match(account_number: str, channel: str, contact: str) -> Client | None:
    index = blind_index(contact)
    field = "phone_index" if channel == Channel.SMS else "email_index"
    return (Client.objects.filter(account_number__iexact=account_number, **{field: index})
            .exclude(status=Client.Status.CLOSED).first())


def registration_start(*, session: object, account_number: str, channel: str, contact: str, ip: str) -> None:
    """Send a code to the account's phone or email when both match; otherwise do nothing, but
    leave the session looking the same (a code that can never be right). Raises
    RegistrationError when the account number or the address asked too often, or when codes
    cannot go by SMS at all (the provider's setting, the same for every account)."""
    if channel == Channel.SMS and not NotificationSettings.load().sms_ready:
        raise RegistrationError(registration_message(MSG_NO_SMS, channel), "contact")
    if not _count(f"registration:ip:{ip}", CODES_PER_IP_PER_HOUR) or \
            not _count(f"registration:account:{account_number}", CODES_PER_ACCOUNT_PER_HOUR):
        raise RegistrationError(MSG_TOO_MANY, status=429)
    client = _match(account_number, channel, contact)
    code = f"{secrets.randbelow(10**6):06d}"
    session[SESSION_KEY] = {  # type: ignore[index]
        "client": client.pk if client else None, "hash": _code_hash(client.pk if client else None, code),
        "expires": time.time() + CODE_MINUTES * 60, "channel": channel,
        "email": contact if channel == Channel.EMAIL else "",
    }
    if client is None:
        return
    # Sent by a Celery task, so a matching account answers as fast as a wrong one (no timing
    # tells them apart); each code its own message (asking again sends again, within the limits
    # above).
    from privacy.tasks import registration_code_task

    client_id = client.pk
    transaction.on_commit(lambda: registration_code_task.delay(client_id, channel, code))


def registration_code_send(*, client_id: int, channel: str, code: str) -> None:
    """The code to the account's phone or email, at once; the message log keeps the text
    without it (staff who read the log could otherwise finish the registration)."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        return
    recipient = client.phone if channel == Channel.SMS else client.email
    values = {"provider": connection.tenant.name, "name": client.full_name, "account": client.account_number}
    sent = send_now(event="registration_code", channel=channel,
                    outgoing=Outgoing(f"{client.pk}:{secrets.token_hex(6)}", recipient, values, client_id=client.pk),
                    secret_values={"code": code})
    if sent.status != Message.Status.SENT:
        cache.set(_unsent_key(_code_hash(client.pk, code)), True, CODE_MINUTES * 60)


def _unsent_key(code_hash: str) -> str:
    return f"registration:unsent:{code_hash}"


def registration_code_status(pending: dict) -> tuple[str, bool]:
    """What the code page says about the code, and whether it was not sent: MSG_MAYBE_SENT, the
    same for an account that matched and one that did not, unless sending this code failed
    (MSG_NOT_SENT). With a Celery worker the failure is known a moment after the page first shows."""
    unsent = bool(cache.get(_unsent_key(pending["hash"])))
    text = registration_message(MSG_NOT_SENT if unsent else MSG_MAYBE_SENT, pending.get("channel", Channel.SMS))
    return text, unsent


def registration_pending(session: object) -> dict | None:
    pending = session.get(SESSION_KEY)  # type: ignore[attr-defined]
    if not pending or pending.get("expires", 0) < time.time():
        return None
    return pending


# --- step 2: the login -------------------------------------------------------------------------
@dataclass(frozen=True)
class Registered:
    user: User
    client: Client


def registration_finish(*, session: object, code: str, email: str, password: str, ip: str) -> Registered:
    """Check the code, then make the client's login, linked to their account, with the adult
    attestation audited and the terms and privacy policy in force accepted."""
    pending = registration_pending(session)
    if pending is None:
        raise RegistrationError(MSG_NO_CODE)
    # Counted in the cache, atomically: the session is written back whole at the end of each
    # request, so requests sent in parallel would each count only one try between them.
    tries_key = f"registration:tries:{pending['hash']}"
    cache.add(tries_key, 0, CODE_MINUTES * 60)
    try:
        tries = cache.incr(tries_key)
    except ValueError:  # expired between add and incr
        cache.add(tries_key, 1, CODE_MINUTES * 60)
        tries = 1
    if tries > MAX_TRIES:
        raise RegistrationError(MSG_TOO_MANY_TRIES, "code")
    if pending["client"] is None or not hmac.compare_digest(pending["hash"], _code_hash(pending["client"], code)):
        raise RegistrationError(MSG_BAD_CODE, "code")
    with transaction.atomic():
        # Two tabs finishing at once: the second waits here, then finds the login made.
        client = Client.objects.select_for_update().filter(pk=pending["client"]).first()
        if client is None or client.status == Client.Status.CLOSED:
            raise RegistrationError(MSG_NO_CODE)
        if client.user_id is not None:
            raise RegistrationError(MSG_HAS_LOGIN)
        if User.objects.filter(email=email).exists():
            raise RegistrationError(MSG_EMAIL_TAKEN, "email")
        try:
            password_validation.validate_password(password, User(email=email, full_name=client.full_name))
        except ValidationError as exc:
            raise RegistrationError(" ".join(exc.messages), "password1") from exc
        user = User.objects.create_user(email, password, full_name=client.full_name, phone=client.phone,
                                        role=Role.CLIENT)
        client.user = user
        client.save(update_fields=["user"])
        versions = current_policy_versions(fresh=True)
        policy_accept(user=user, versions=[versions["privacy"], versions["terms"]], source="registration", ip=ip)
        audit(actor=user, action="portal.registered", object_repr=client.account_number, target=client,
              adult_attested=True, channel=pending["channel"])
    session.pop(SESSION_KEY, None)  # type: ignore[attr-defined]
    return Registered(user=user, client=client)


def client_ip_of(request: HttpRequest) -> str:
    from accounts.middleware import client_ip

    return client_ip(request)
