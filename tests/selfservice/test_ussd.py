"""USSD sessions driven through the real endpoint step by step, as Africa's Talking posts them:
each menu, back and home, an unknown phone, several accounts on one phone, a pay prompt that
reaches the Daraja stand-in and becomes a payment, Kiswahili, the rate limit, and isolation
between providers (one provider's token never answers for another's clients)."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.selectors import client_balance
from clients.models import Category, Client
from fieldwork.models import ServiceRequest
from meters.models import Reading
from meters.services import meter_create
from notifications.models import Message
from payments.models import Payment, PaymentRequest
from selfservice.models import UssdSession
from selfservice.services import USSD_STEPS
from tests.billing_helpers import D, billed_twice, metered
from tests.conftest import host_of
from tests.notifications_helpers import sms_ready
from tests.payments_helpers import mpesa_ready, stk_bodies
from tests.selfservice.helpers import PHONE, Caller

MENU = "1. Balance\n2. Last bill\n3. Pay\n4. Submit a reading\n5. Report a problem\n6. Language"
FOOTER = "0 Back 00 Home"
SENT = "END An M-Pesa prompt to pay {amount} for {account} is coming to this phone: enter your M-Pesa PIN."


@pytest.fixture
def wanjiru(tenant, at):  # type: ignore[no-untyped-def]
    """Wanjiru's account on her phone: September 500.00 and October 940.00 billed (1,440.00 owed,
    October due 16 Nov 2026), one meter read at 28; SMS and M-Pesa set up."""
    client = billed_twice("Wanjiru Kamau")
    client.phone = PHONE
    client.save()
    sms_ready()
    mpesa_ready()
    return client


def menu(account: str) -> str:
    return f"CON Alpha Water {account}\n{MENU}"


def test_the_menu_the_balance_back_and_an_invalid_choice(wanjiru, alpha, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="selfservice")
    acc = wanjiru.account_number
    caller = Caller(alpha.callback_token)
    assert caller.dial() == menu(acc)
    assert caller.press("1") == f"CON Account {acc}: you owe KES 1,440.00.\n{FOOTER}"
    assert caller.press("0") == menu(acc)
    assert caller.press("9") == f"CON Invalid choice.\n{menu(acc)[4:]}"
    assert caller.press("0") == menu(acc)  # nothing above the first menu
    session = UssdSession.objects.get()
    assert (session.steps, session.client_id, session.ended) == (5, wanjiru.pk, False)
    # Every step is logged, with the phone masked.
    assert caplog.text.count("USSD ATUid_0a1b2c from +2547****678: step") == 5 and PHONE not in caplog.text


def test_the_last_bill_with_its_due_date_and_an_sms_with_the_pay_link(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    acc = wanjiru.account_number
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("2") == ("CON Bill Oct 2026: KES 940.00, due 16 Nov 2026. Total due now KES 1,440.00.\n"
                                 f"We sent you the pay link by SMS.\n{FOOTER}")
    [sent] = at.wait_for_messages(1)
    assert sent["number"] == PHONE
    assert sent["message"].startswith(f"Alpha Water: {acc} bill Oct 2026 KES 940.00 due 16 Nov 2026; "
                                      "due now KES 1,440.00. Pay: http")
    pay_path = "/pay/" + sent["message"].split("/pay/")[1]
    assert Http(HTTP_HOST=host_of("alpha")).get(pay_path).status_code == 200  # the link opens this account
    sms = Message.objects.get(event="self_service_reply")
    assert (sms.status, sms.client_id, sms.purpose) == ("sent", wanjiru.pk, "billing")
    # Asked again in the same session: the screen again, the SMS once.
    caller.press("0")
    caller.press("2")
    assert Message.objects.filter(event="self_service_reply").count() == 1 and len(at.messages) == 1


def test_paying_the_balance_reaches_daraja_and_becomes_a_payment(wanjiru, alpha, daraja, recorder) -> None:  # type: ignore[no-untyped-def]
    acc = wanjiru.account_number
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("3") == ("CON Pay by M-Pesa from this phone:\n1. Balance KES 1,440.00\n2. Another amount\n"
                                 f"{FOOTER}")
    # The END screen first (no phone shows a prompt while its session is open), then the prompt,
    # asked for by Celery after the step's commit.
    assert caller.press("1") == SENT.format(amount="KES 1,440.00", account=acc)
    [sent] = stk_bodies(daraja)
    assert (sent["Amount"], sent["PhoneNumber"], sent["AccountReference"]) == ("1440", "254712345678", acc)
    request = PaymentRequest.objects.get()
    assert (request.source, request.client_id, request.amount) == ("ussd", wanjiru.pk, D("1440"))
    # Daraja's result comes to our callback URL and becomes the payment.
    answer = recorder.replay(Http(), recorder.wait(1)[0])
    assert answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    payment = Payment.objects.get()
    assert (payment.client_id, payment.amount, payment.method) == (wanjiru.pk, D("1440.00"), "mpesa")
    assert client_balance(wanjiru.pk) == D("0.00")
    # AT posting the last step again (a retry) answers the same and prompts no second time.
    assert caller.screen() == SENT.format(amount="KES 1,440.00", account=acc)
    assert len(stk_bodies(daraja)) == 1 and PaymentRequest.objects.count() == 1


def test_paying_another_amount(wanjiru, alpha, daraja) -> None:  # type: ignore[no-untyped-def]
    caller = Caller(alpha.callback_token)
    caller.dial()
    prompt = f"Enter the amount in KES (whole shillings):\n{FOOTER}"
    assert caller.press("3", "2") == f"CON {prompt}"
    assert caller.press("12.50") == f"CON Enter a whole number of shillings from 1 to 250,000.\n{prompt}"
    assert caller.press("700") == SENT.format(amount="KES 700.00", account=wanjiru.account_number)
    [sent] = stk_bodies(daraja)
    assert (sent["Amount"], sent["PhoneNumber"]) == ("700", "254712345678")


def test_a_reading_goes_through_the_pipeline_flagged_as_sent_by_the_client(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    serial = wanjiru.meters.get().serial
    caller = Caller(alpha.callback_token)
    caller.dial()
    prompt = f"Enter the reading of meter {serial} (m3, e.g. 1234.5):\n{FOOTER}"
    assert caller.press("4") == f"CON {prompt}"
    assert caller.press("abc") == f"CON Enter the number on the meter, e.g. 1234.5.\n{prompt}"
    refused = caller.press("20")  # below the 28 read on 31 October
    assert refused == ("CON Not accepted: 20.000 is lower than the previous reading (28.000 on 31 Oct 2026 09:00).\n"
                       f"{prompt}")
    assert caller.press("35.5") == f"END Thank you. Reading 35.5 of meter {serial} received; our staff will check it."
    reading = Reading.objects.get(source="ussd")
    assert (reading.value, reading.consumption, reading.status) == (D("35.500"), D("7.500"), "flagged")
    assert "client_submitted" in reading.flags


def test_a_client_with_several_meters_chooses_one(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    first = wanjiru.meters.get().serial
    second = meter_create(actor="test", serial="ZZ-2", client=wanjiru, installed_on=date(2026, 1, 1),
                          initial_reading=D("5"), dial_capacity=D("99999.999"))
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("4") == f"CON Choose the meter:\n1. {first}\n2. ZZ-2\n{FOOTER}"
    assert caller.press("2") == f"CON Enter the reading of meter ZZ-2 (m3, e.g. 1234.5):\n{FOOTER}"
    assert caller.press("0").startswith("CON Choose the meter:")
    assert caller.press("2", "9").startswith("END Thank you. Reading 9 of meter ZZ-2")
    assert Reading.objects.get(source="ussd").meter_id == second.pk


def test_reporting_a_problem_makes_a_service_request(wanjiru, alpha, at) -> None:  # type: ignore[no-untyped-def]
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("5") == ("CON Report a problem:\n1. Leak\n2. No water\n3. Billing question\n4. Meter fault\n"
                                 f"{FOOTER}")
    done = caller.press("1")
    request = ServiceRequest.objects.get()
    due = timezone.localtime(request.due_by).date()
    assert done == (f"END Thank you. Your report {request.reference} is received; we aim to deal with it by "
                    f"{due.day} {due:%b %Y}.")
    assert (request.client_id, request.kind, request.channel, request.status) == (wanjiru.pk, "leak", "ussd", "open")
    [sent] = at.wait_for_messages(1)  # the client is told, as for any request
    assert request.reference in sent["message"]


def test_choosing_kiswahili_stores_it_and_the_next_session_speaks_it(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    acc = wanjiru.account_number
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("6") == f"CON Choose your language:\n1. English\n2. Kiswahili\n{FOOTER}"
    assert caller.press("2") == "END Lugha yako sasa ni Kiswahili."
    wanjiru.refresh_from_db()
    assert wanjiru.language == "sw"
    again = Caller(alpha.callback_token, session="ATUid_second")
    assert again.dial() == (f"CON Alpha Water {acc}\n1. Salio\n2. Bili ya mwisho\n3. Lipa\n4. Tuma usomaji wa mita\n"
                            "5. Ripoti tatizo\n6. Lugha")
    assert again.press("1") == f"CON Akaunti {acc}: unadaiwa KES 1,440.00.\n0 Rudi 00 Mwanzo"
    assert again.press("0", "2").startswith("CON Bili ya Okt 2026: KES 940.00, mwisho 16 Nov 2026.")


def test_home_from_deep_in_the_menu(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    acc = wanjiru.account_number
    caller = Caller(alpha.callback_token)
    caller.dial()
    caller.press("3", "2")
    assert caller.press("00") == menu(acc)
    assert caller.press("5", "0") == menu(acc)
    assert caller.press("1", "00", "6").startswith("CON Choose your language:")


def test_an_unknown_phone_is_told_politely_whom_to_contact(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    alpha.contact_phone = "0700 111 222"
    alpha.save()
    caller = Caller(alpha.callback_token, phone="+254799000111")
    assert caller.dial() == ("END Sorry, this phone number is not registered with Alpha Water. Please contact us "
                             "on 0700 111 222 to link it to your account.")


def test_several_accounts_on_one_phone_choose_one_first(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    shop, _meter = metered("Wanjiru's Shop")
    shop.phone = PHONE
    shop.save()
    first, second = sorted([wanjiru.account_number, shop.account_number])
    caller = Caller(alpha.callback_token)
    assert caller.dial() == f"CON Choose an account:\n1. {first}\n2. {second}"
    chosen = shop if second == shop.account_number else wanjiru
    assert caller.press("2") == f"{menu(second)}\n{FOOTER}"
    owed = "you owe KES 1,440.00." if chosen == wanjiru else "nothing to pay."
    assert caller.press("1") == f"CON Account {second}: {owed}\n{FOOTER}"
    assert caller.press("00") == f"{menu(second)}\n{FOOTER}"
    assert caller.press("0") == f"CON Choose an account:\n1. {first}\n2. {second}"
    assert caller.press("3") == f"CON Invalid choice.\nChoose an account:\n1. {first}\n2. {second}"


def test_one_providers_token_never_answers_for_anothers_clients(wanjiru, alpha, beta) -> None:  # type: ignore[no-untyped-def]
    # Beta's token on alpha's domain, alpha's on beta's, none, a wrong one: 404, nothing stored.
    assert Caller(beta.callback_token).post().status_code == 404
    assert Caller(alpha.callback_token, slug="beta").post().status_code == 404
    assert Caller("not-the-token").post().status_code == 404
    assert Http(HTTP_HOST=host_of("alpha")).post("/ussd/", {}).status_code == 404
    assert Http(HTTP_HOST=host_of("alpha")).get(f"/ussd/{alpha.callback_token}/").status_code == 405
    assert UssdSession.objects.count() == 0
    # A client of beta's calling alpha's code is a stranger there, and alpha's client at beta's.
    with tenant_context(beta):
        Client.objects.create(account_number="BS001", full_name="Beta Client", phone="+254733000444",
                              category=Category.objects.get(code="domestic"))
    assert Caller(alpha.callback_token, phone="+254733000444").dial().startswith(
        "END Sorry, this phone number is not registered with Alpha Water.")
    with tenant_context(beta):
        assert Caller(beta.callback_token, slug="beta", session="ATUid_beta").dial().startswith(
            "END Sorry, this phone number is not registered with Beta Springs.")


def test_every_phone_is_rate_limited(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    caller = Caller(alpha.callback_token)
    caller.dial()
    for _ in range((USSD_STEPS - 1) // 2):
        caller.press("1", "0")
    while len(caller.answers) < USSD_STEPS - 1:
        caller.press("0")
    assert caller.press("1") == ("END Too many requests from this phone. Please try again in a few minutes.")
    assert UssdSession.objects.get().steps == USSD_STEPS
    # Another phone is still answered.
    assert Caller(alpha.callback_token, phone="+254799000111", session="ATUid_other").dial().startswith("END Sorry")


def test_the_payments_limits_and_settings_hold_on_ussd(wanjiru, alpha, daraja, at) -> None:  # type: ignore[no-untyped-def]
    Caller(alpha.callback_token).press("3", "1")
    # A second prompt to the same phone within the minute is refused by the payments flow: the
    # caller, whose session has ended, is told why by SMS.
    again = Caller(alpha.callback_token, session="ATUid_again")
    again.dial()
    assert again.press("3", "1") == SENT.format(amount="KES 1,440.00", account=wanjiru.account_number)
    assert len(stk_bodies(daraja)) == 1 and PaymentRequest.objects.count() == 1
    [told] = at.wait_for_messages(1)
    assert told["message"] == ("Alpha Water: M-Pesa could not send the payment request: An M-Pesa prompt was just "
                               "sent to this phone. You can send another in about a minute.")
    mpesa_ready(mpesa_passkey="")  # M-Pesa no longer set up
    third = Caller(alpha.callback_token, session="ATUid_third")
    third.dial()
    assert third.press("3", "1") == "END M-Pesa payments are not set up yet. Please pay at our office."


def test_an_account_no_longer_on_the_phone_mid_session_starts_the_menu_again(wanjiru, alpha) -> None:  # type: ignore[no-untyped-def]
    shop, _meter = metered("Wanjiru's Shop")  # registered after Wanjiru's: the second account
    shop.phone = PHONE
    shop.save()
    caller = Caller(alpha.callback_token)
    caller.dial()
    assert caller.press("2").startswith(f"CON Alpha Water {shop.account_number}")
    shop.phone = "+254700000001"  # staff change the shop's number meanwhile
    shop.save()
    assert caller.press("1") == menu(wanjiru.account_number)  # the first screen again, "1" dropped
    assert caller.press("1") == f"CON Account {wanjiru.account_number}: you owe KES 1,440.00.\n{FOOTER}"
