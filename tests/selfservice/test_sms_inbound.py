"""Incoming SMS as Africa's Talking delivers them (form-encoded, to the provider's token URL):
keywords in English and Kiswahili in any case and spacing, STOP recorded as consent, replies
through the one send function (never held for quiet hours), one answer per AT message id,
the rate limit, and isolation between providers."""

from __future__ import annotations

from datetime import time

import pytest
from django.test import Client as Http
from django_tenants.utils import tenant_context

from meters.models import Reading
from notifications.models import Consent, Message
from notifications.services import consent_map
from selfservice.models import InboundSms
from selfservice.services import SMS_ANSWERS
from selfservice.sms import inbound_sweep
from tests.billing_helpers import D, billed_twice, metered
from tests.conftest import host_of
from tests.notifications_helpers import sms_ready
from tests.payments_helpers import mpesa_ready
from tests.selfservice.helpers import PHONE, sms_in

HELP_EN = ("Alpha Water: send BAL for your balance, BILL for your last bill, READ 1234.5 to send a meter reading, "
           "STOP to stop announcements.")
HELP_SW = ("Alpha Water: tuma SALIO kupata salio, BILI kupata bili ya mwisho, SOMA 1234.5 kutuma usomaji wa mita, "
           "STOP kusitisha matangazo.")


@pytest.fixture
def wanjiru(tenant, at):  # type: ignore[no-untyped-def]
    """Wanjiru's account on her phone: 1,440.00 owed (October 940.00 due 16 Nov 2026), one meter at 28."""
    client = billed_twice("Wanjiru Kamau")
    client.phone = PHONE
    client.save()
    sms_ready()
    mpesa_ready()
    return client


def kiswahili(client):  # type: ignore[no-untyped-def]
    client.language = "sw"
    client.save()
    return client


def replies(at, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [m["message"] for m in at.wait_for_messages(n)]


@pytest.mark.parametrize("text", ["BAL", "bal", "  Bal  ", "balance please"])
def test_bal_in_any_case_and_spacing_answers_the_balance(wanjiru, alpha, at, text) -> None:  # type: ignore[no-untyped-def]
    response = sms_in(alpha.callback_token, text, at_id="ATXid_1")
    assert (response.status_code, response.content) == (200, b"OK")
    if text == "balance please":  # not a keyword: the help text
        assert replies(at, 1) == [HELP_EN]
        return
    assert replies(at, 1) == [f"Alpha Water: Account {wanjiru.account_number}: you owe KES 1,440.00."]
    row = InboundSms.objects.get()
    assert (row.status, row.keyword, row.client_id, row.phone, row.text) == ("answered", "balance", wanjiru.pk,
                                                                              PHONE, text)
    sms = Message.objects.get(event="self_service_reply")
    assert (sms.status, sms.recipient, sms.client_id) == ("sent", PHONE, wanjiru.pk)


def test_salio_in_kiswahili(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    kiswahili(wanjiru)
    sms_in(alpha.callback_token, " salio ", at_id="ATXid_sw")
    assert replies(at, 1) == [f"Alpha Water: Akaunti {wanjiru.account_number}: unadaiwa KES 1,440.00."]


def test_the_language_is_the_clients_not_the_keywords(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    sms_in(alpha.callback_token, "MSAADA", at_id="ATXid_h1")
    kiswahili(wanjiru)
    sms_in(alpha.callback_token, "help", at_id="ATXid_h2")
    assert replies(at, 2) == [HELP_EN, HELP_SW]


def test_bill_and_bili_carry_the_pay_link(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    acc = wanjiru.account_number
    sms_in(alpha.callback_token, "bill", at_id="ATXid_b1")
    kiswahili(wanjiru)
    sms_in(alpha.callback_token, "BILI", at_id="ATXid_b2")
    english, swahili = replies(at, 2)
    assert english.startswith(f"Alpha Water: {acc} bill Oct 2026 KES 940.00 due 16 Nov 2026; due now KES 1,440.00. "
                              "Pay: http")
    assert swahili.startswith(f"Alpha Water: {acc} bili ya Okt 2026 KES 940.00 mwisho 16 Nov 2026; unadaiwa sasa "
                              "KES 1,440.00. Lipa: http")
    pay_path = "/pay/" + english.split("/pay/")[1]
    assert Http(HTTP_HOST=host_of("alpha")).get(pay_path).status_code == 200


def test_read_and_soma_go_through_the_readings_pipeline(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    serial = wanjiru.meters.get().serial
    sms_in(alpha.callback_token, "READ   35.5", at_id="ATXid_r1")
    kiswahili(wanjiru)
    sms_in(alpha.callback_token, "soma 20", at_id="ATXid_r2")  # below 35.5: refused
    sms_in(alpha.callback_token, "SOMA 40,25", at_id="ATXid_r3")  # a comma for the decimal point
    sms_in(alpha.callback_token, "SOMA mingi", at_id="ATXid_r4")
    done, refused, done_sw, bad = replies(at, 4)
    assert done == (f"Alpha Water: thank you, reading 35.5 of meter {serial} received; our staff will check it.")
    assert refused.startswith(f"Alpha Water: usomaji 20 wa mita {serial} haukukubaliwa: 20.000 ni chini ya usomaji "
                              "uliotangulia")  # the pipeline's reason in the client's language too
    assert done_sw == (f"Alpha Water: asante, usomaji 40.25 wa mita {serial} umepokelewa; wafanyakazi wetu "
                       "watauhakiki.")
    assert bad == "Alpha Water: tuma SOMA na nambari iliyo kwenye mita, mfano SOMA 1234.5."
    # Consumption since the last accepted reading (28 on 31 October): a flagged one does not count
    # until staff accept it.
    readings = list(Reading.objects.filter(source="sms").order_by("read_at"))
    assert [(r.value, r.consumption, r.status) for r in readings] == [(D("35.500"), D("7.500"), "flagged"),
                                                                       (D("40.250"), D("12.250"), "flagged")]
    assert all("client_submitted" in r.flags for r in readings)


def test_read_with_several_meters_names_the_meter(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    shop, meter = metered("Wanjiru's Shop")
    shop.phone = PHONE
    shop.save()
    serials = sorted([wanjiru.meters.get().serial, meter.serial])
    sms_in(alpha.callback_token, "READ 12", at_id="ATXid_m1")
    sms_in(alpha.callback_token, f"read {meter.serial.lower()} 12", at_id="ATXid_m2")
    sms_in(alpha.callback_token, "READ XX-1 12", at_id="ATXid_m3")
    which, done, unknown = replies(at, 3)
    assert which == (f"Alpha Water: you have several meters. Send READ <meter> <reading>, e.g. READ {serials[0]} "
                     "1234.5.")
    assert done.startswith(f"Alpha Water: thank you, reading 12 of meter {meter.serial} received")
    assert unknown == f"Alpha Water: meter XX-1 is not on your account. Your meters: {', '.join(serials)}."
    assert Reading.objects.get(source="sms").meter_id == meter.pk


def test_stop_withdraws_consent_for_announcements_as_the_portal_records_it(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    from notifications.services import consent_record

    consent_record(client_id=wanjiru.pk, choices={"marketing": True}, source="portal", actor="test")
    assert consent_map([wanjiru.pk])[wanjiru.pk]["marketing"] is True
    sms_in(alpha.callback_token, "stop", at_id="ATXid_s1")
    assert replies(at, 1) == ["Alpha Water: you will get no more announcements. Messages about your account and "
                              "water supply still come."]
    prefs = consent_map([wanjiru.pk])[wanjiru.pk]
    assert (prefs["marketing"], prefs["sms"]) == (False, True)
    latest = Consent.objects.filter(client_id=wanjiru.pk, topic="marketing").latest("recorded_at")
    assert (latest.granted, latest.source, latest.recorded_by) == (False, "sms", "sms")
    assert latest.policy_version  # the policy in force, as the portal records it


def test_a_retried_delivery_is_answered_once(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert sms_in(alpha.callback_token, "BAL", at_id="ATXid_same").status_code == 200
    assert InboundSms.objects.count() == 1
    at.wait_for_messages(1)
    assert Message.objects.filter(event="self_service_reply").count() == 1 and len(at.messages) == 1


def test_replies_are_not_held_for_quiet_hours(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    sms_ready(quiet_hours=True, quiet_start=time(0, 0), quiet_end=time(23, 59))  # quiet all day
    sms_in(alpha.callback_token, "BAL", at_id="ATXid_q")
    assert len(replies(at, 1)) == 1
    sms = Message.objects.get(event="self_service_reply")
    assert (sms.status, sms.next_attempt_at, sms.quiet_hours) == ("sent", None, False)


def test_an_unknown_phone_is_told_whom_to_contact(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    alpha.contact_phone = "0700 111 222"
    alpha.save()
    sms_in(alpha.callback_token, "BAL", at_id="ATXid_u", phone="+254799000111")
    assert replies(at, 1) == ["Alpha Water: this phone number is not registered with us. Please contact us on "
                              "0700 111 222 to link it to your account."]
    assert at.messages[0]["number"] == "+254799000111"


def test_a_phone_sending_too_many_is_no_longer_answered(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    for n in range(SMS_ANSWERS + 2):
        sms_in(alpha.callback_token, "BAL", at_id=f"ATXid_flood{n}")
    assert InboundSms.objects.filter(status="answered").count() == SMS_ANSWERS
    assert InboundSms.objects.filter(status="limited").count() == 2
    assert Message.objects.filter(event="self_service_reply").count() == SMS_ANSWERS


def test_a_message_left_unprocessed_is_answered_by_the_sweeper(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    import time_machine

    from selfservice.sms import inbound_store

    row, created = inbound_store({"from": PHONE, "to": "21212", "text": "BAL", "date": "", "id": "ATXid_lost",
                                  "linkId": ""})  # stored, its task never queued (the broker was down)
    assert created and inbound_sweep() == 0  # not yet: its own task may still come
    with time_machine.travel(row.received + timedelta(minutes=2), tick=False):
        from tests.notifications_helpers import committed

        with committed():
            assert inbound_sweep() == 1
    assert len(replies(at, 1)) == 1 and InboundSms.objects.get().status == "answered"


def test_one_providers_token_never_answers_for_anothers_clients(wanjiru, alpha, beta, at) -> None:  # type: ignore[no-untyped-def]
    assert sms_in(beta.callback_token, "BAL", at_id="ATXid_x1").status_code == 404
    assert sms_in(alpha.callback_token, "BAL", at_id="ATXid_x2", slug="beta").status_code == 404
    assert sms_in("wrong", "BAL", at_id="ATXid_x3").status_code == 404
    assert Http(HTTP_HOST=host_of("alpha")).post("/sms/inbound/", {}).status_code == 404
    assert InboundSms.objects.count() == 0
    with tenant_context(beta):
        assert InboundSms.objects.count() == 0
        # Wanjiru's phone texting beta's number: a stranger there (beta's own row, beta's answer).
        assert sms_in(beta.callback_token, "BAL", at_id="ATXid_x4", slug="beta").status_code == 200
        row = InboundSms.objects.get()
        assert (row.client_id, row.note) == (None, "unknown phone")
    assert InboundSms.objects.count() == 0


def test_a_nul_in_what_at_posts_is_stored_visibly_and_answered(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    from tests.selfservice.helpers import Caller

    assert sms_in(alpha.callback_token, "BAL\x00", at_id="ATXid_\x00nul").status_code == 200
    assert InboundSms.objects.get().at_id == "ATXid_\ufffdnul"
    assert Caller(alpha.callback_token, session="ATUid_\x00").dial().startswith("CON Alpha Water")
