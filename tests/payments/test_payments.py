"""Payments, first part: M-Pesa C2B callbacks stored first and processed once, allocation to
the oldest open invoices, overpayment credit, manual cash and bank payments (API)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.models import LedgerEntry
from billing.selectors import client_balance
from payments.callbacks import inbox_process
from payments.dates import payment_plausible_or_now
from payments.inbox import inbox_store
from payments.models import Allocation, CallbackInbox, Payment
from payments.services import payment_record
from payments.tasks import sweep_inbox
from tests.billing_helpers import (
    D,
    billed_twice,
    domestic_tariff,
    invoice_of,
    metered,
    own_provider,
    travel,
)
from tests.conftest import host_of, login

NBO = ZoneInfo("Africa/Nairobi")


def confirmation(account: str, amount: str = "500.00", trans_id: str = "RKL51ZDR4F", **changes: str) -> dict:
    """Daraja's C2B confirmation, as documented (masked MSISDN, all values strings)."""
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20261105143015",
            "TransAmount": amount, "BusinessShortCode": "600966", "BillRefNumber": account, "InvoiceNumber": "",
            "OrgAccountBalance": "25.00", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126",
            "FirstName": "NICHOLAS", "MiddleName": "", "LastName": "", **changes}


def post(http: Http, path: str, body: object) -> object:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return http.post(path, data=raw, content_type="application/json")


@pytest.fixture
def billed(tenant):  # type: ignore[no-untyped-def]
    """A client with two issued invoices: September 500.00 (10 m³) and October 940.00 (18 m³)."""
    return billed_twice()


def urls(alpha) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    token = alpha.callback_token
    return (f"/payments/mpesa/c2b/validation/{token}/", f"/payments/mpesa/c2b/confirmation/{token}/")


def test_a_confirmation_is_stored_answered_and_allocated_oldest_first(billed, alpha, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(http, urls(alpha)[1], confirmation(f"  {billed.account_number.lower()} ", "700.00"))
    assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    with tenant_context(alpha):
        payment = Payment.objects.get(receipt="RKL51ZDR4F")
        assert (payment.client_id, payment.amount, payment.status, payment.payer) == (
            billed.pk, D("700.00"), "matched", "2547 ***** 126")
        assert payment.paid_at == datetime(2026, 11, 5, 14, 30, 15, tzinfo=NBO)  # TransTime is Nairobi time
        allocations = [(a.invoice.period, a.amount) for a in Allocation.objects.filter(payment=payment)]
        assert allocations == [("2026-09", D("500.00")), ("2026-10", D("200.00"))]
        assert client_balance(billed.pk) == D("740.00")
        inbox = CallbackInbox.objects.get(payments=payment)
        assert inbox.status == "processed" and json.loads(inbox.body)["TransID"] == "RKL51ZDR4F"
        assert LedgerEntry.objects.get(client=billed, kind="payment").amount == D("-700.00")


def test_an_overpayment_is_a_credit(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        inbox = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation(billed.account_number, "2000")).encode(),
                            headers={}, source_ip="196.201.214.200")
        assert inbox_process(inbox.pk) == "processed"
        assert sum(a.amount for a in Allocation.objects.all()) == D("1440.00")
        assert client_balance(billed.pk) == D("-560.00")  # in credit
        assert invoice_of(billed, "2026-10").allocations.get().amount == D("940.00")


def test_the_same_receipt_twice_changes_nothing(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        body = json.dumps(confirmation(billed.account_number, "100")).encode()
        first = inbox_store(kind="c2b_confirmation", body=body, headers={}, source_ip=None)
        again = inbox_store(kind="c2b_confirmation", body=body, headers={}, source_ip=None)
        assert [inbox_process(first.pk), inbox_process(again.pk), inbox_process(again.pk)] == [
            "processed", "duplicate", "taken"]
        assert Payment.objects.count() == 1 and client_balance(billed.pk) == D("1340.00")


def test_a_wrong_token_is_404_and_stores_nothing(alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    for path in ("/payments/mpesa/c2b/confirmation/not-the-token/", "/payments/mpesa/c2b/validation/x/"):
        assert post(http, path, confirmation("ACC1")).status_code == 404
    with tenant_context(alpha):
        assert not CallbackInbox.objects.exists()


def test_a_malformed_body_is_stored_answered_and_flagged(alpha, tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    with django_capture_on_commit_callbacks(execute=True):
        bad_json = post(http, urls(alpha)[1], b'{"TransID": "X1", "TransAmount": ')
        no_amount = post(http, urls(alpha)[1], {"TransID": "X2", "TransTime": "20261105143015"})
    assert bad_json.status_code == no_amount.status_code == 200
    assert bad_json.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    with tenant_context(alpha):
        rows = list(CallbackInbox.objects.order_by("id").values_list("status", "body"))
        assert [status for status, _ in rows] == ["invalid", "invalid"]
        assert rows[0][1] == '{"TransID": "X1", "TransAmount": '  # kept as it came
        assert not Payment.objects.exists()


def test_validation_accepts_known_accounts_and_rejects_unknown_ones(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    known = post(http, urls(alpha)[0], confirmation(billed.account_number, OrgAccountBalance=""))
    assert known.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    unknown = post(http, urls(alpha)[0], confirmation("NO-SUCH-ACCOUNT"))
    assert unknown.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    assert post(http, urls(alpha)[0], b"not json").json()["ResultCode"] == "C2B00016"


def test_an_unknown_account_goes_to_reconciliation_with_a_hashed_msisdn(alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    hashed = "94c392c311d522da950619227b3361752a42042db7e1e699b26e628305c68a88"
    with tenant_context(alpha):
        inbox = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation(
            "WRONG123", "350", trans_id="TK60708BHZ", MSISDN=hashed)).encode(), headers={}, source_ip=None)
        inbox_process(inbox.pk)
        payment = Payment.objects.get(receipt="TK60708BHZ")
        assert (payment.status, payment.client_id, payment.payer, payment.ledger_entry_id) == (
            "unmatched", None, hashed, None)
        assert not LedgerEntry.objects.filter(reference="TK60708BHZ").exists()


def test_a_callback_stored_while_the_worker_is_down_is_swept_later(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    post(http, urls(alpha)[1], confirmation(billed.account_number, "100"))  # no commit: the task never ran
    with tenant_context(alpha):
        assert CallbackInbox.objects.get().status == "received" and not Payment.objects.exists()
        with travel("2026-11-23"):
            assert sweep_inbox() == 0  # too fresh: the task may still be on its way
        CallbackInbox.objects.update(received=CallbackInbox.objects.get().received - timedelta(minutes=5))
        assert sweep_inbox() == 1
        assert Payment.objects.get().amount == D("100.00")


def test_ten_deliveries_at_once_make_one_payment(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    with own_provider(django_db_blocker, "pay") as provider:
        with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-23"):
            domestic_tariff()
            client, _ = metered("Concurrent Payer")
            body = json.dumps(confirmation(client.account_number, "250", trans_id="QWE1234567")).encode()
            inboxes = [inbox_store(kind="c2b_confirmation", body=body, headers={}, source_ip=None).pk
                       for _ in range(10)]
        results, failures = [], []
        start = threading.Barrier(10)

        def deliver(inbox_id: int) -> None:
            try:
                with django_db_blocker.unblock(), tenant_context(provider):
                    start.wait()
                    results.append(inbox_process(inbox_id))
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                failures.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=deliver, args=(i,)) for i in inboxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert sorted(results) == ["duplicate"] * 9 + ["processed"]
        with django_db_blocker.unblock(), tenant_context(provider):
            assert Payment.objects.count() == 1
            assert LedgerEntry.objects.filter(kind="payment").count() == 1
            assert client_balance(client.pk) == D("-250.00")


def test_cash_and_bank_payments_through_the_api(billed, alpha, alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    body = {"client": billed.pk, "amount": "300.00", "method": "cash", "reference": "RCPT-0001",
            "paid_at": "2026-11-20T10:00:00+03:00"}
    created = alpha_api.post("/api/v1/payments/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["receipt"], data["amount"], data["method"], data["client"], data["status"]) == (
        "RCPT-0001", "300.00", "cash", billed.pk, "matched")
    assert [(a["amount"], a["number"][:8]) for a in data["allocations"]] == [("300.00", "INV-2026")]
    again = alpha_api.post("/api/v1/payments/", body, format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    clash = alpha_api.post("/api/v1/payments/", {**body, "amount": "5"}, format="json")
    assert clash.status_code == 400 and "already recorded" in clash.json()["reference"][0]
    bad = alpha_api.post("/api/v1/payments/", {"client": 0, "amount": "-1", "method": "mpesa", "reference": "",
                                               "paid_at": "2099-01-01T00:00:00+03:00"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"client", "amount", "method", "reference", "paid_at"}
    listed = alpha_api.get("/api/v1/payments/").json()
    assert listed["count"] == 1 and listed["results"][0]["receipt"] == "RCPT-0001"
    assert beta_api.get("/api/v1/payments/").json()["count"] == 0
    assert beta_api.post("/api/v1/payments/", body, format="json").json()["client"] == ["Unknown client."]
    with tenant_context(alpha):
        assert client_balance(billed.pk) == D("1140.00")
    reader = Http(HTTP_HOST=host_of("alpha"))
    login(reader, "ari@alpha.test")
    assert reader.get("/api/v1/payments/").status_code == 403


def test_the_reconciliation_queue_assigns_or_refunds(billed, alpha) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import AuditEvent

    with tenant_context(alpha):
        for trans_id, account in (("UNM0000001", "ACC-TYPO"), ("UNM0000002", "NOBODY")):
            inbox = inbox_store(kind="c2b_confirmation", body=json.dumps(confirmation(
                account, "450", trans_id=trans_id)).encode(), headers={}, source_ip="196.201.214.200")
            inbox_process(inbox.pk)
        typo, nobody = Payment.objects.get(receipt="UNM0000001"), Payment.objects.get(receipt="UNM0000002")
    anne = Http(HTTP_HOST=host_of("alpha"))
    login(anne, "anne@alpha.test")
    queue = anne.get("/dashboard/payments/", {"status": "unmatched"})
    assert b"UNM0000001" in queue.content and b"UNM0000002" in queue.content
    assert b"Reconcile 2 unmatched" in anne.get("/dashboard/payments/").content
    detail = anne.get(f"/dashboard/payments/{typo.pk}/")
    assert b"Assign to a client" in detail.content and b"ACC-TYPO" in detail.content and b"196.201.214.200" in detail.content
    wrong = anne.post(f"/dashboard/payments/{typo.pk}/reconcile/", {"account_number": "NO-SUCH"})
    assert wrong.status_code == 400 and b"No open account has number" in wrong.content
    ok = anne.post(f"/dashboard/payments/{typo.pk}/reconcile/", {"account_number": billed.account_number}, follow=True)
    assert b"assigned to" in ok.content and b"INV-2026-" in ok.content
    refunded = anne.post(f"/dashboard/payments/{nobody.pk}/reconcile/", {"action": "refund", "reason": "Reversed RX1"})
    assert refunded.status_code == 302
    with tenant_context(alpha):
        assert Payment.objects.get(pk=typo.pk).status == "matched" and client_balance(billed.pk) == D("990.00")
        assert Payment.objects.get(pk=nobody.pk).status == "refunded"
        assert set(AuditEvent.objects.filter(action__startswith="payment.").values_list("action", flat=True)) == {
            "payment.assigned", "payment.refunded"}
    again = anne.post(f"/dashboard/payments/{typo.pk}/reconcile/", {"account_number": billed.account_number})
    assert again.status_code == 400 and b"waiting in reconciliation" in again.content
    reader = Http(HTTP_HOST=host_of("alpha"))
    login(reader, "ari@alpha.test")
    assert reader.get("/dashboard/payments/").status_code == 403
    assert reader.post(f"/dashboard/payments/{typo.pk}/reconcile/", {"account_number": "x"}).status_code == 403


def test_payment_list_filters(billed, alpha, alpha_api) -> None:  # type: ignore[no-untyped-def]
    alpha_api.post("/api/v1/payments/", {"client": billed.pk, "amount": "100", "method": "bank", "reference": "EFT-9",
                                         "paid_at": "2026-11-10T09:00:00+03:00"}, format="json")
    anne = Http(HTTP_HOST=host_of("alpha"))
    login(anne, "anne@alpha.test")
    assert b"EFT-9" in anne.get("/dashboard/payments/", {"method": "bank", "from": "2026-11-10"}).content
    assert b"EFT-9" not in anne.get("/dashboard/payments/", {"method": "mpesa"}).content
    assert b"EFT-9" not in anne.get("/dashboard/payments/", {"to": "2026-11-09"}).content


def test_a_batch_of_confirmations_is_processed_as_a_set(billed, alpha, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    from payments.batch import process_confirmations

    with tenant_context(alpha):
        other, _ = metered("Second Payer")
        bodies = [confirmation(billed.account_number, "300", "BAT0000001"),
                  confirmation(f" {billed.account_number.lower()}", "400", "BAT0000002",
                               TransTime="20261105150000"),       # same client, later: after the first
                  confirmation(other.account_number, "50", "BAT0000003"),   # no invoices: a credit
                  confirmation("NOBODY", "75", "BAT0000004"),               # unmatched
                  confirmation(billed.account_number, "300", "BAT0000001"),  # re-delivered in the batch
                  confirmation(billed.account_number, "abc", "BAT0000005")]  # unreadable
        payment_record(method="mpesa", receipt="BAT0000006", amount=D("10"), paid_at=datetime(2026, 11, 1, tzinfo=NBO),
                       client=other)
        bodies.append(confirmation(other.account_number, "10", "BAT0000006"))  # recorded before
        for body in bodies:
            inbox_store(kind="c2b_confirmation", body=json.dumps(body).encode(), headers={}, source_ip=None)
        with django_assert_max_num_queries(16):
            assert process_confirmations() == 7
        assert list(CallbackInbox.objects.order_by("id").values_list("status", flat=True)) == [
            "processed", "processed", "processed", "processed", "duplicate", "invalid", "duplicate"]
        first, second = Payment.objects.get(receipt="BAT0000001"), Payment.objects.get(receipt="BAT0000002")
        assert [(a.invoice.period, a.amount) for a in first.allocations.all()] == [("2026-09", D("300.00"))]
        assert [(a.invoice.period, a.amount) for a in second.allocations.order_by("invoice__period")] == [
            ("2026-09", D("200.00")), ("2026-10", D("200.00"))]
        assert client_balance(billed.pk) == D("740.00") and client_balance(other.pk) == D("-60.00")
        assert Payment.objects.get(receipt="BAT0000004").status == "unmatched"
        assert LedgerEntry.objects.filter(kind="payment").count() == 4
        assert all(p.ledger_entry.amount == -p.amount for p in Payment.objects.filter(status="matched"))
        assert process_confirmations() == 0


def test_two_drains_at_once_make_each_payment_once(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    from payments.batch import process_confirmations

    with own_provider(django_db_blocker, "drn") as provider:
        with django_db_blocker.unblock(), tenant_context(provider):
            from clients.models import Category, Client

            Client.objects.create(account_number="DR-1", full_name="Drain", category=Category.objects.get(code="domestic"))
            for i in range(300):
                inbox_store(kind="c2b_confirmation", headers={}, source_ip=None,
                            body=json.dumps(confirmation("DR-1", "1", f"DRN{i % 250:07d}")).encode())
        results, errors = [], []

        def drain() -> None:
            try:
                with django_db_blocker.unblock(), tenant_context(provider):
                    while n := process_confirmations(limit=40):
                        results.append(n)
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=drain) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and sum(results) == 300
        with django_db_blocker.unblock(), tenant_context(provider):
            assert Payment.objects.count() == 250 and client_balance(Client.objects.get().pk) == D("-250.00")
            assert CallbackInbox.objects.filter(status="duplicate").count() == 50


def test_one_drain_per_burst_and_none_left_behind(alpha, tenant) -> None:  # type: ignore[no-untyped-def]
    from payments.inbox import confirmation_store
    from payments.models import DrainFlag
    from payments.tasks import _drain_idle_unless_work_left, drain_confirmations

    def store(trans_id: str) -> bool:
        return confirmation_store(body=json.dumps(confirmation("NOBODY", "5", trans_id)).encode(),
                                  headers={"Content-Type": "application/json"}, source_ip="196.201.214.200")

    assert store("FLG0000001") is True            # raised the flag: this one queues the drain
    assert [store("FLG0000002"), store("FLG0000003")] == [False, False]  # a drain is on its way
    assert DrainFlag.objects.get().pending is True
    assert _drain_idle_unless_work_left() is True  # work left: the flag stays up
    assert drain_confirmations() == 3 and not CallbackInbox.objects.filter(status="received").exists()
    assert DrainFlag.objects.get().pending is False  # the drain lowered it when nothing was left
    assert store("FLG0000004") is True             # so the next burst queues a drain again
    # A drain lost with the flag up: the sweeper takes the stale rows and lowers the flag.
    CallbackInbox.objects.filter(status="received").update(received=timezone.now() - timedelta(minutes=3))
    assert sweep_inbox() == 1 and DrainFlag.objects.get().pending is False
    assert Payment.objects.filter(status="unmatched").count() == 4


def _our_prepared_schemas() -> set[str]:
    """The provider schemas this connection holds a prepared confirmation statement for."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'majismart_c2b_%%'")
        return {row[0].split(".payments_callbackinbox")[0].split()[-1].strip('"') for row in cursor.fetchall()}


def test_the_prepared_confirmation_insert_follows_each_providers_schema(alpha, beta, gamma, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from payments.inbox import CONFIRMATION_STATEMENT, confirmation_store

    # As on a new connection: none of the statements earlier tests prepared on this one.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'majismart_c2b_%%'")
        for (name,) in cursor.fetchall():
            cursor.execute(f"DEALLOCATE {name}")
    CONFIRMATION_STATEMENT.forget(connection.connection)

    # One connection serves every provider: a statement prepared on it for each provider's schema
    # writes to that provider's table. Past the cap the oldest is deallocated (and prepared again
    # when its provider is back).
    monkeypatch.setattr(CONFIRMATION_STATEMENT, "prepared_max", 2)
    for provider, receipt, held in ((alpha, "PREP-A1", {alpha}), (beta, "PREP-B1", {alpha, beta}),
                                    (alpha, "PREP-A2", {alpha, beta}), (gamma, "PREP-C1", {beta, gamma}),
                                    (beta, "PREP-B2", {beta, gamma}), (alpha, "PREP-A3", {gamma, alpha})):
        with tenant_context(provider):
            confirmation_store(body=json.dumps({"TransID": receipt}).encode(), headers={"Content-Type": "application/json"},
                               source_ip="196.201.214.200")
            assert _our_prepared_schemas() == {p.schema_name for p in held}
    for provider, receipts in ((alpha, ["PREP-A1", "PREP-A2", "PREP-A3"]), (beta, ["PREP-B1", "PREP-B2"]),
                               (gamma, ["PREP-C1"])):
        with tenant_context(provider):
            stored = sorted(json.loads(b)["TransID"] for b in CallbackInbox.objects.values_list("body", flat=True))
            assert stored == receipts
            # Bodies are encrypted at rest: found by their clear text in Python, not by SQL.
            first = next(i for i in CallbackInbox.objects.all() if receipts[0] in i.body)
            assert first.headers == {"content-type": "application/json"}


def test_the_confirmation_store_survives_a_new_connection_and_a_failed_statement(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    import psycopg
    from django.db import DataError, OperationalError, ProgrammingError, connection, transaction

    from payments.inbox import confirmation_store
    from payments.models import DrainFlag

    def store(receipt: str, source_ip: str | None = "196.201.214.200") -> None:
        confirmation_store(body=json.dumps({"TransID": receipt}).encode(), headers={}, source_ip=source_ip)

    def stored() -> list[str]:
        return sorted(json.loads(b)["TransID"] for b in CallbackInbox.objects.values_list("body", flat=True))

    with own_provider(django_db_blocker, "cst") as provider, django_db_blocker.unblock(), tenant_context(provider):
        store("CST0000001")
        connection.close()  # the next callback comes on a new connection: prepared there afresh
        store("CST0000002")
        # A statement the database refuses is Django's error (here: not an address) and leaves
        # the connection usable for the next callback.
        with pytest.raises(DataError):
            store("CST0000003", source_ip="not-an-address")
        store("CST0000004")
        assert stored() == ["CST0000001", "CST0000002", "CST0000004"]

        # First in an atomic block, the insert is part of the block: rolled back with it.
        DrainFlag.objects.update(pending=False)
        with pytest.raises(RuntimeError), transaction.atomic():
            store("CST0000005")
            raise RuntimeError("the block fails after the insert")
        assert stored() == ["CST0000001", "CST0000002", "CST0000004"]
        assert DrainFlag.objects.get().pending is False

        # Statements deallocated behind our back (DISCARD ALL, DEALLOCATE ALL): prepared again;
        # inside a transaction the failure is the block's error, and the next callback recovers.
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        store("CST0000006")
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        with pytest.raises(ProgrammingError), transaction.atomic():
            CallbackInbox.objects.exists()
            store("CST0000007")
        store("CST0000008")
        assert stored() == ["CST0000001", "CST0000002", "CST0000004", "CST0000006", "CST0000008"]

        # The database connection lost: OperationalError, and the connection is closed at the end
        # of the request, as Django does for any lost connection; the next one prepares afresh.
        db = connection.settings_dict
        with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                             autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        with pytest.raises(OperationalError):
            store("CST0000009")
        connection.close_if_unusable_or_obsolete()
        assert connection.connection is None
        store("CST0000010")
        assert stored()[-1] == "CST0000010" and "CST0000009" not in stored()


def test_a_paystack_time_without_an_offset_is_read_as_utc() -> None:
    """Found by the type check: this branch named django.utils.timezone.UTC, which does not
    exist, so a paid_at without an offset raised AttributeError instead of being read as UTC."""
    naive = (timezone.now() - timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    moment = payment_plausible_or_now(naive)
    assert moment == naive.replace(tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)



@pytest.mark.parametrize("typed", ["{acct}", " {acct} ", "{lower}", "\t{lower}\n"])
def test_one_account_rule_for_one_callback_and_for_a_drain_batch(tenant, typed: str) -> None:  # type: ignore[no-untyped-def]
    """The callback path (client_for_account) and the drain's batch (clients_for_accounts) match
    by the same rule: trimmed, any case; closed accounts and NULs match nothing."""
    from clients.models import Client
    from payments.matching import account_key, client_for_account, clients_for_accounts

    open_client, _ = metered("Open Account")
    closed, _ = metered("Closed Account")
    Client.objects.filter(pk=closed.pk).update(status=Client.Status.CLOSED)
    reference = typed.format(acct=open_client.account_number, lower=open_client.account_number.lower())
    assert client_for_account(reference) == open_client
    assert clients_for_accounts([reference]) == {account_key(reference): open_client.pk}
    for nothing in (closed.account_number, "", "   ", f"{open_client.account_number}\x00", "NO-SUCH-ACCOUNT"):
        assert client_for_account(nothing) is None
        assert clients_for_accounts([nothing]) == {}
