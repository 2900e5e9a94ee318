"""The fixed texts of both languages (same keys and placeholders; the longest menus fit a USSD
screen whole with a long provider name and an error above), and how long self-service records
are kept."""

from __future__ import annotations

import string
from datetime import timedelta

from django.utils import timezone

from privacy.models import RetentionPolicy
from selfservice import texts
from selfservice.models import InboundSms, UssdSession
from selfservice.retention import selfservice_purge

LONG = {"provider": "P" * 30, "account": "A" * 12, "amount": "KES 250,000.00", "meter": "M" * 20}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_text_with_the_same_placeholders() -> None:
    english, swahili = texts.TEXTS["en"], texts.TEXTS["sw"]
    assert english.keys() == swahili.keys()
    for key in english:
        assert _placeholders(english[key]) == _placeholders(swahili[key]), key


def test_the_longest_screens_fit_whole_with_an_error_and_the_footer() -> None:
    for lang in texts.LANGS:
        footer = texts.text(lang, "footer")
        # Each screen with the error it can show above it (a refused reading's reason is cut to fit).
        for key, error_key in (("menu", "invalid"), ("pay_menu", "invalid"), ("pay_menu_settled", "invalid"),
                               ("problem_menu", "invalid"), ("language_menu", "invalid"),
                               ("reading_prompt", "reading_bad"), ("pay_amount", "pay_bad_amount")):
            error = texts.text(lang, error_key)
            values = {name: LONG.get(name, "") for name in _placeholders(texts.TEXTS[lang][key])}
            screen = f"CON {error}\n{texts.text(lang, key, **values)}\n{footer}"
            assert len(screen) <= 182, (lang, key, len(screen))


def test_dates_and_periods_in_kiswahili() -> None:
    from datetime import date

    assert texts.day("sw", date(2026, 12, 7)) == "7 Dis 2026" and texts.day("en", date(2026, 8, 1)) == "1 Aug 2026"
    assert texts.period("sw", "2026-10") == "Okt 2026" and texts.period("xx", "2026-03") == "Mar 2026"


def test_sessions_and_answered_sms_go_with_the_callbacks_retention(tenant) -> None:  # type: ignore[no-untyped-def]
    days = RetentionPolicy.load().callback_days
    UssdSession.objects.create(session_id="old", phone_index="x")
    UssdSession.objects.create(session_id="new", phone_index="x")
    InboundSms.objects.create(at_id="old-answered", status="answered")
    InboundSms.objects.create(at_id="old-waiting")  # never answered yet: kept
    InboundSms.objects.create(at_id="new-answered", status="answered")
    past = timezone.now() - timedelta(days=days + 1)
    UssdSession.objects.filter(session_id="old").update(updated=past)
    InboundSms.objects.filter(at_id__startswith="old").update(received=past)
    assert selfservice_purge() == {"ussd_sessions": 1, "incoming_sms": 1}
    assert list(UssdSession.objects.values_list("session_id", flat=True)) == ["new"]
    assert sorted(InboundSms.objects.values_list("at_id", flat=True)) == ["new-answered", "old-waiting"]
