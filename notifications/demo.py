"""Demo SMS and email settings for `seed_demo`: each demo provider on Africa's Talking's sandbox
(the local stand-in under `make run`), with its delivery-report URL registered there."""

from __future__ import annotations

import json
import logging

from django.conf import settings

from majismart import outbound
from majismart.tenancy import connection
from majismart.urls import domain_url

log = logging.getLogger(__name__)


def seed_notifications(*, register: bool = True) -> bool:
    """Set up the current provider's SMS once; True when it was set up now. `register`: tell the
    local Africa's Talking stand-in where to send delivery reports (register_delivery_reports)."""
    from notifications.models import NotificationSettings

    cfg = NotificationSettings.load()
    if cfg.at_username:
        return False
    slug = connection.tenant.slug
    cfg.at_environment, cfg.at_username, cfg.at_api_key = "sandbox", slug, f"demo-at-key-{slug}"
    cfg.save()
    if register:
        register_delivery_reports()
    return True


def register_delivery_reports() -> None:
    from notifications.models import NotificationSettings

    cfg = NotificationSettings.load()
    if cfg.at_username:
        _register_with_standin(cfg.at_username, domain_url(connection.tenant.domain,
                                                           f"/notifications/sms/delivery/{cfg.delivery_token}/"))


def _register_with_standin(username: str, url: str) -> None:
    """Only the local stand-in has this control endpoint; the real sandbox is set up by hand."""
    base = settings.AFRICASTALKING_URLS["sandbox"]
    if not base.startswith("http://127.0.0.1"):
        return
    try:
        outbound.urlopen(f"{base}/__standin__/dlr-url", method="POST",
                         data=json.dumps({"username": username, "url": url}).encode(),
                         headers={"Content-Type": "application/json"}, timeout=3).close()
    except OSError as exc:
        log.warning("The Africa's Talking stand-in did not take the delivery-report URL: %s", exc)
