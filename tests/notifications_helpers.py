"""Notification test helpers: the Africa's Talking stand-in over real HTTP, a provider's SMS
settings pointed at it, and delivery reports replayed through the whole Django stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client as Http
from django.test import TestCase

from devkit.standins.africastalking import AfricasTalkingStandIn
from notifications.models import NotificationSettings

AT_USERNAME, AT_KEY = "alpha-water", "atsk_6f1e0c2b9d8a7f3e5c4b1a0d9e8f7a6b5c4d3e2f1a0b9c8d"


def sms_ready(**changes: object) -> NotificationSettings:
    """The current provider on its own (stand-in) Africa's Talking account, quiet hours off."""
    cfg = NotificationSettings.load()
    cfg.at_environment, cfg.at_username, cfg.at_api_key = "sandbox", AT_USERNAME, AT_KEY
    cfg.sms_enabled, cfg.quiet_hours = True, False
    for name, value in changes.items():
        setattr(cfg, name, value)
    cfg.save()
    return cfg


@pytest.fixture
def at(settings) -> Iterator[AfricasTalkingStandIn]:  # type: ignore[no-untyped-def]
    """A fresh Africa's Talking stand-in (this key only), and the sandbox pointed at it."""
    standin = AfricasTalkingStandIn("127.0.0.1", 0, credentials={AT_USERNAME: AT_KEY}, dlr_delay=0.05).start()
    settings.AFRICASTALKING_URLS = {"sandbox": standin.base_url, "live": standin.base_url}
    yield standin
    standin.stop()


def committed():  # type: ignore[no-untyped-def]
    """Run what the code queued for after its commit (Celery is eager in tests), nested too."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def replay_report(item: Any, http: Http | None = None) -> Any:
    """Deliver a delivery report the stand-in posted (to the recorder) exactly as it was sent."""
    http = http or Http()
    with committed():
        return http.post(item.path, data=item.body, content_type="application/x-www-form-urlencoded",
                         HTTP_HOST=item.host.split(":")[0])
