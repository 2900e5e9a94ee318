"""How long self-service records are kept: USSD sessions and incoming SMS are raw callbacks,
kept as long as the provider keeps payment callbacks (Privacy → Retention, `callback_days`), then
deleted by a daily job. An incoming SMS not yet answered is never removed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from privacy.models import RetentionPolicy
from selfservice.models import InboundSms, UssdSession


def selfservice_purge(*, now: datetime | None = None) -> dict[str, int]:
    cutoff = (now or timezone.now()) - timedelta(days=RetentionPolicy.load().callback_days)
    sessions = UssdSession.objects.filter(updated__lt=cutoff).delete()[0]
    messages = (InboundSms.objects.exclude(status=InboundSms.Status.RECEIVED).filter(received__lt=cutoff)
                .delete()[0])
    return {"ussd_sessions": sessions, "incoming_sms": messages}
