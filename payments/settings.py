"""A provider's payment settings: M-Pesa (Daraja) and Paystack credentials, kept encrypted,
never shown back in full and never logged; the C2B URL registration with Daraja."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.services import audit
from payments import daraja
from payments.models import PaymentSettings

SECRET_FIELDS = ("mpesa_consumer_key", "mpesa_consumer_secret", "mpesa_passkey", "paystack_secret_key")
PLAIN_CHOICES = {
    "mpesa_environment": PaymentSettings.Environment.values,
    "mpesa_shortcode_type": PaymentSettings.ShortcodeType.values,
    "mpesa_c2b_version": ["v1", "v2"],
    "ip_check": PaymentSettings.IpCheck.values,
}
SHORTCODE = re.compile(r"^\d{5,7}$")


def payment_settings_update(*, cfg: PaymentSettings, data: object, actor: object) -> PaymentSettings:
    """Save the form: a secret left empty keeps the saved one; "clear_<name>" removes it. The
    audit names the fields that changed, never their values."""
    get = data.get  # type: ignore[attr-defined]
    errors: dict[str, list[str]] = {}
    changed: list[str] = []
    values: dict[str, Any] = {}  # PaymentSettings fields
    for name, allowed in PLAIN_CHOICES.items():
        value = str(get(name, getattr(cfg, name)) or "")
        if value not in allowed:
            errors[name] = ["Choose one of the options."]
        values[name] = value
    for name in ("mpesa_shortcode", "mpesa_till_number"):
        value = "".join(str(get(name, "") or "").split())
        if value and not SHORTCODE.match(value):
            errors[name] = ["Enter the 5 to 7 digit number Safaricom gave you."]
        values[name] = value
    if values["mpesa_shortcode_type"] == PaymentSettings.ShortcodeType.TILL and not values["mpesa_till_number"]:
        errors["mpesa_till_number"] = ["A till needs its till number (the shortcode is the store number)."]
    values["accept_unknown_accounts"] = get("accept_unknown_accounts") in ("on", "true", "1")
    for name in SECRET_FIELDS:
        value = str(get(name, "") or "").strip()
        if get(f"clear_{name}") in ("on", "true", "1"):
            values[name] = ""
        elif value:
            if len(value) > 200 or any(ch.isspace() for ch in value):
                errors[name] = ["Paste the value exactly as Safaricom or Paystack show it (no spaces)."]
            values[name] = value
    if str(values.get("paystack_secret_key", "") or "").strip() and not str(values["paystack_secret_key"]).startswith("sk_"):
        errors["paystack_secret_key"] = ["A Paystack secret key starts with sk_test_ or sk_live_."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        cfg = PaymentSettings.objects.select_for_update().get(pk=cfg.pk)
        for name, value in values.items():
            if getattr(cfg, name) != value:
                changed.append(name)
                setattr(cfg, name, value)
        if {"mpesa_shortcode", "mpesa_environment", "mpesa_c2b_version"} & set(changed):
            cfg.c2b_registered_at, cfg.c2b_register_result = None, ""
        cfg.save()
        if changed:
            audit(actor=actor, action="payments.settings_changed", object_repr="payment settings", fields=sorted(changed))
    return cfg


def payment_register_urls(*, actor: object, urls: dict[str, str]) -> PaymentSettings:
    """Register the C2B validation and confirmation URLs with Daraja; the answer (or the
    refusal, in Daraja's words) is kept and shown."""
    cfg = PaymentSettings.load()
    if not (cfg.mpesa_shortcode and cfg.mpesa_consumer_key and cfg.mpesa_consumer_secret):
        result, ok = "Save the shortcode, consumer key and consumer secret first.", False
    else:
        try:
            answer = daraja.c2b_register(daraja.Config.of(cfg), confirmation_url=urls["c2b_confirmation"],
                                         validation_url=urls["c2b_validation"])
            where = "production" if cfg.mpesa_environment == cfg.Environment.PRODUCTION else "the sandbox (testing)"
            result, ok = f"Registered with M-Pesa in {where}: " \
                         f"{answer.get('ResponseDescription', 'Success')}", True
        except daraja.DarajaError as exc:
            result, ok = f"M-Pesa refused the registration: {exc.message} ({exc.code})", False
    PaymentSettings.objects.filter(pk=cfg.pk).update(c2b_register_result=result[:300],
                                                     **({"c2b_registered_at": timezone.now()} if ok else {}))
    audit(actor=actor, action="payments.c2b_registered" if ok else "payments.c2b_register_failed",
          object_repr=cfg.mpesa_shortcode, result=result[:300])
    cfg.refresh_from_db()
    return cfg
