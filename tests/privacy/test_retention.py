"""Retention (privacy.retention): each rule removes exactly what its policy says is due, with the
clock fixed at the boundaries (a record exactly at its cutoff stays, one a second older goes);
running again removes nothing more; a dry run removes nothing and reports the same counts; the
ledger stays balanced. Then the owner's retention page, the command and the daily job."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from axes.models import AccessLog
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent
from accounts.services import audit
from billing.models import BillingRun, CreditNote, Invoice, InvoiceLine, InvoiceMeter, LedgerEntry
from billing.retention import BROUGHT_FORWARD_REFERENCE
from billing.runs import billing_run_finalize, billing_run_start
from billing.services import adjustment_post, credit_note_create
from clients.models import Client
from meters.models import Reading
from notifications.models import DeliveryReport, Message
from payments.models import Allocation, CallbackInbox, Payment, PaymentRequest
from payments.services import payment_record
from privacy.models import DataExport, ErasureRecord, RetentionPolicy, RetentionRun
from privacy.retention import RULE_LABELS, months_before, retention_apply
from tests.billing_helpers import metered, on, read, travel
from tests.conftest import host_of, login

D = Decimal
# 15:00 in Nairobi on 3 Oct 2033: bills and payments (7 years) before 3 Oct 2026 go, callbacks
# (90 days) before 5 Jul 2033, messages and the audit log (12 months) before 3 Oct 2032.
NOW = datetime(2033, 10, 3, 12, 0, tzinfo=UTC)
BILLING_MIDNIGHT = on("2026-10-03", 0)  # midnight, Nairobi
TABLES = [CallbackInbox, Message, DeliveryReport, AuditEvent, AccessLog, DataExport, Invoice, InvoiceLine,
          InvoiceMeter, CreditNote, LedgerEntry, BillingRun, Payment, Allocation, PaymentRequest, Reading, Client]


@contextmanager
def at(moment: datetime):  # type: ignore[no-untyped-def]
    with time_machine.travel(moment, tick=False):
        yield


def apply(now: datetime = NOW, **kwargs: object) -> RetentionRun:
    with at(now):
        return retention_apply(now=now, **kwargs)  # type: ignore[arg-type]


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


def nonzero(run: RetentionRun) -> dict[str, int]:
    return {k: v for k, v in run.counts.items() if v}


def old_audit(now: datetime = NOW) -> int:
    """Audit rows past the 12 months (the fixtures' own, e.g. the tariff created in 2026)."""
    return AuditEvent.objects.filter(created__lt=months_before(now, 12)).count()


def audit_change(due: int) -> dict[str, int]:
    """The audit table after a run: the old rows gone, the purge's own row (when any went) and
    the run's row added."""
    delta = -due + (1 if due else 0) + 1
    return {"AuditEvent": delta} if delta else {}


def with_audit(counts: dict[str, int], due: int) -> dict[str, int]:
    return {**counts, "audit_events": due} if due else counts


def balances() -> dict[int, Decimal]:
    """Every client's balance: the sum of its ledger entries (0 with none)."""
    sums = dict(LedgerEntry.objects.values("client_id").annotate(s=Sum("amount")).values_list("client_id", "s"))
    return {pk: sums.get(pk, D("0.00")) for pk in Client.objects.values_list("pk", flat=True)}


# --- raw payment callbacks --------------------------------------------------------------------
def test_it_removes_callbacks_processed_before_the_cutoff_and_never_a_waiting_one(tenant) -> None:  # type: ignore[no-untyped-def]
    cutoff = NOW - timedelta(days=90)
    second = timedelta(seconds=1)

    def inbox(status: str, received: datetime, processed: datetime | None = None) -> CallbackInbox:
        with at(received):
            return CallbackInbox.objects.create(kind="c2b_confirmation", body="{}", status=status, processed=processed)

    stays = [inbox("processed", cutoff - timedelta(days=1), processed=cutoff),
             inbox("invalid", cutoff),  # no processed time: judged by when it came
             inbox("received", cutoff - timedelta(days=900))]  # still waiting: never removed
    goes = [inbox("processed", cutoff - timedelta(days=1), processed=cutoff - second),
            inbox("duplicate", cutoff - second)]
    paid = payment_record(method="mpesa", receipt="RET0001", amount=D("100"), paid_at=NOW - timedelta(days=95),
                          client=None, inbox=goes[0]).payment
    before, due = table_counts(), old_audit()

    run = apply()

    assert nonzero(run) == with_audit({"callbacks": 2}, due)
    assert changed(before, table_counts()) == {"CallbackInbox": -2, **audit_change(due)}
    assert set(CallbackInbox.objects.values_list("pk", flat=True)) == {r.pk for r in stays}
    paid.refresh_from_db()
    assert paid.inbox_id is None and paid.status == Payment.Status.UNMATCHED  # the payment is untouched


# --- the message log --------------------------------------------------------------------------
def test_it_removes_the_message_log_before_the_cutoff_but_never_unsent_messages(tenant) -> None:  # type: ignore[no-untyped-def]
    cutoff = months_before(NOW, 12)
    assert cutoff == datetime(2032, 10, 3, 12, 0, tzinfo=UTC)
    second = timedelta(seconds=1)

    def message(status: str, created: datetime) -> Message:
        with at(created):
            return Message.objects.create(channel="sms", event="invoice", purpose="billing", client_id=1,
                                          recipient="+254700000001", text="Your bill", status=status,
                                          dedup_key=f"ret:{status}:{created.isoformat()}")

    def report(received: datetime, msg: Message | None) -> DeliveryReport:
        with at(received):
            return DeliveryReport.objects.create(body="phone=+254700000001", provider_message_id="ATX", status="Success",
                                                 message=msg)

    kept = [message("sent", cutoff), message("queued", cutoff - timedelta(days=400)),
            message("sending", cutoff - second)]
    old_delivered = message("delivered", cutoff - second)
    old_failed = message("failed", cutoff - timedelta(days=30))
    old_report = report(cutoff - second, old_delivered)
    new_report = report(cutoff, old_delivered)  # a late report about an old message: stays, unlinked
    before, due = table_counts(), old_audit()

    run = apply()

    assert nonzero(run) == with_audit({"messages": 2, "delivery_reports": 1}, due)
    assert changed(before, table_counts()) == {"Message": -2, "DeliveryReport": -1, **audit_change(due)}
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in kept}
    assert not Message.objects.filter(pk__in=[old_delivered.pk, old_failed.pk]).exists()
    assert not DeliveryReport.objects.filter(pk=old_report.pk).exists()
    new_report.refresh_from_db()
    assert new_report.message_id is None


# --- audit and log-in logs --------------------------------------------------------------------
def test_it_removes_audit_and_login_logs_before_the_cutoff(tenant) -> None:  # type: ignore[no-untyped-def]
    cutoff = months_before(NOW, 12)
    second = timedelta(seconds=1)
    with at(cutoff):
        kept = audit(actor="t", action="clients.updated", object_repr="at the cutoff")
        kept_log = AccessLog.objects.create(user_agent="ua", ip_address="127.0.0.1", username="x@alpha.test",
                                            http_accept="*/*", path_info="/accounts/login/")
    with at(cutoff - second):
        audit(actor="t", action="clients.updated", object_repr="a second older")
        AccessLog.objects.create(user_agent="ua", ip_address="127.0.0.1", username="x@alpha.test",
                                 http_accept="*/*", path_info="/accounts/login/")
    due = AuditEvent.objects.filter(created__lt=cutoff).count()  # also the fixture's tariff, from 2026
    assert due >= 2
    kept_ids = set(AuditEvent.objects.filter(created__gte=cutoff).values_list("pk", flat=True))
    assert kept.pk in kept_ids
    before = table_counts()

    run = apply()

    assert nonzero(run) == {"audit_events": due, "login_logs": 1}
    # What remains: every row from the cutoff on, the purge's own row and the run's.
    assert not AuditEvent.objects.filter(created__lt=cutoff).exists()
    assert kept_ids < set(AuditEvent.objects.values_list("pk", flat=True))
    assert sorted(AuditEvent.objects.exclude(pk__in=kept_ids).values_list("action", flat=True)) == [
        "audit.purged", "privacy.retention_applied"]
    assert changed(before, table_counts()) == {"AuditEvent": -due + 2, "AccessLog": -1}
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [kept_log.pk]


# --- data exports -----------------------------------------------------------------------------
def test_it_deletes_expired_export_files_and_marks_them(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    def export(token: str, expires_at: datetime) -> DataExport:
        name = default_storage.save(f"exports/{token}.zip", ContentFile(b"zip"))
        return DataExport.objects.create(token=token, status=DataExport.Status.READY, path=name, size=3,
                                         ready_at=expires_at - timedelta(days=7), expires_at=expires_at)

    expired = export("ret-expired", NOW - timedelta(seconds=1))
    current = export("ret-current", NOW)
    due = old_audit()
    with django_capture_on_commit_callbacks(execute=True):
        run = apply()
    assert nonzero(run) == with_audit({"exports": 1}, due)
    expired.refresh_from_db()
    current.refresh_from_db()
    assert (expired.status, expired.path) == (DataExport.Status.EXPIRED, "")
    assert not default_storage.exists("exports/ret-expired.zip")
    assert current.status == DataExport.Status.READY and default_storage.exists(current.path)
    default_storage.delete(current.path)


# --- billing and water-usage records ----------------------------------------------------------
def _billed(*names: str) -> list[Client]:
    """Clients billed September (500.00, issued 2 Oct 2026) and October (940.00, issued 2 Nov)."""
    clients = []
    for name in names:
        client, meter = metered(name)
        read(meter, "0", "2026-08-31")
        read(meter, "10", "2026-09-30")
        read(meter, "28", "2026-10-31")
        clients.append(client)
    for period, day in (("2026-09", "2026-10-02"), ("2026-10", "2026-11-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    return clients


def _pay(client: Client, amount: str, paid_at: datetime, receipt: str) -> Payment:
    return payment_record(method="cash", receipt=receipt, amount=D(amount), paid_at=paid_at, client=client).payment


def _sep(client: Client) -> Invoice:
    return Invoice.objects.get(client=client, period="2026-09")


def _billing_world() -> dict[str, object]:
    a, b, c, g, h = _billed("Paid up", "Paid across", "Paid late", "Credited early", "Credited on the day")
    p1 = _pay(a, "500", on("2026-10-02", 10), "RET-A")  # settles September only
    p2 = _pay(b, "700", on("2026-10-02", 10), "RET-B")  # September and 200 of October
    p3 = _pay(c, "500", on("2026-10-03", 0), "RET-C")  # September, paid exactly at the cutoff
    with travel("2026-10-02"):
        credit_note_create(invoice=_sep(g), amount="500", reason="Meter misread", actor="t")
    with travel("2026-10-03"):
        credit_note_create(invoice=_sep(h), amount="100", reason="Goodwill", actor="t")
    # Water-usage records around the cutoff: one reading a second before midnight, one at it.
    _, edge = metered("Edge meter")
    read(edge, "1", "2026-09-01")
    Reading.objects.create(meter=edge, value=D("2"), read_at=BILLING_MIDNIGHT - timedelta(seconds=1))
    Reading.objects.create(meter=edge, value=D("3"), read_at=BILLING_MIDNIGHT)
    # A dormant meter, all its readings old: the latest and the latest accepted stay.
    _, dormant = metered("Dormant meter")
    for value, day in (("1", "2026-05-01"), ("2", "2026-06-01"), ("3", "2026-07-01")):
        read(dormant, value, day)
    Reading.objects.filter(meter=dormant, value=D("3")).update(status=Reading.Status.FLAGGED)
    return {"a": a, "b": b, "c": c, "g": g, "h": h, "p1": p1, "p2": p2, "p3": p3, "edge": edge, "dormant": dormant}


def test_the_billing_purge_removes_exactly_what_is_due_keeps_balances_and_is_idempotent(tenant) -> None:  # type: ignore[no-untyped-def]
    w = _billing_world()
    a, b, c, g, h = (w[k] for k in "abcgh")
    gone_invoices = [_sep(a), _sep(b), _sep(g)]
    gone_lines = InvoiceLine.objects.filter(invoice__in=gone_invoices).count()
    gone_meters = InvoiceMeter.objects.filter(invoice__in=gone_invoices).count()
    # Two readings of each billed meter (31 Aug, 30 Sep), the edge meter's 1 Sep and 23:59:59,
    # the dormant meter's first.
    gone_readings = set(Reading.objects.filter(meter__client__in=[a, b, c, g, h], read_at__lt=BILLING_MIDNIGHT)
                        .values_list("pk", flat=True))
    gone_readings |= set(Reading.objects.filter(meter=w["edge"], read_at__lt=BILLING_MIDNIGHT).values_list("pk", flat=True))
    gone_readings |= set(Reading.objects.filter(meter=w["dormant"], value=D("1")).values_list("pk", flat=True))
    assert len(gone_readings) == 10 + 2 + 1
    before, owed, due = table_counts(), balances(), old_audit()
    expected = with_audit({"invoices": 3, "invoice_lines": gone_lines, "credit_notes": 1,
                "ledger_entries": 5,  # A: September and its payment; B: September; G: September and its credit
                "balances_brought_forward": 1,  # B: 500 (A's and G's net to nothing)
                "payments": 1, "allocations": 2, "readings": 13}, due)

    dry = apply(dry_run=True)
    assert dry.dry_run and nonzero(dry) == expected
    assert table_counts() == before  # a dry run removes nothing

    run = apply()

    assert not run.dry_run and nonzero(run) == expected
    assert run.cutoffs["billing"] == "2026-10-03"
    assert changed(before, table_counts()) == {
        "Invoice": -3, "InvoiceLine": -gone_lines, "InvoiceMeter": -gone_meters, "CreditNote": -1,
        "LedgerEntry": -5 + 1, "Payment": -1, "Allocation": -2, "Reading": -13, **audit_change(due),
    }
    assert balances() == owed  # every client owes exactly what it did
    assert not Invoice.objects.filter(pk__in=[i.pk for i in gone_invoices]).exists()
    assert not Reading.objects.filter(pk__in=gone_readings).exists()
    # A payment older than the cutoff but allocated to a newer invoice stays, with that allocation.
    p2 = Payment.objects.get(pk=w["p2"].pk)
    assert [(al.invoice.period, al.amount) for al in p2.allocations.select_related("invoice")] == [("2026-10", D("200.00"))]
    assert LedgerEntry.objects.filter(pk=p2.ledger_entry_id).exists()
    # What a payment at the cutoff paid, and an invoice with a credit note of the cutoff day, stay.
    assert Allocation.objects.filter(payment=w["p3"], invoice=_sep(c)).exists()
    assert CreditNote.objects.filter(invoice=_sep(h)).exists()
    forward = LedgerEntry.objects.get(client=b, reference=BROUGHT_FORWARD_REFERENCE)
    assert (forward.kind, forward.amount, forward.booked_on.isoformat()) == ("opening_balance", D("500.00"), "2026-10-03")
    assert forward.description == "Balance brought forward at 2026-10-03"
    assert not LedgerEntry.objects.filter(client__in=[a, g], booked_on__lt="2026-10-03").exists()
    # Each meter keeps its latest reading (and the latest accepted one) whatever its age.
    assert list(Reading.objects.filter(meter=w["dormant"]).values_list("value", "status")) == [
        (D("2.000"), "accepted"), (D("3.000"), "flagged")]
    assert list(Reading.objects.filter(meter=w["edge"]).values_list("read_at", flat=True)) == [BILLING_MIDNIGHT]

    again_before = table_counts()
    again = apply()
    assert nonzero(again) == {}  # idempotent
    assert changed(again_before, table_counts()) == audit_change(0)
    assert balances() == owed


def test_a_billing_record_exactly_at_the_cutoff_stays(tenant) -> None:  # type: ignore[no-untyped-def]
    """A day earlier, the cutoff day is 2 Oct 2026: the September bills issued that day (and the
    payments of that morning) are exactly at it, so they stay; only readings before its midnight go."""
    w = _billing_world()
    earlier = NOW - timedelta(days=1)
    before, owed, due = table_counts(), balances(), old_audit(earlier)
    run = apply(earlier)
    assert run.cutoffs["billing"] == "2026-10-02"
    # 31 Aug and 30 Sep of the five billed meters, the edge meter's 1 Sep, the dormant one's first.
    assert nonzero(run) == with_audit({"readings": 12}, due)
    assert changed(before, table_counts()) == {"Reading": -12, **audit_change(due)}
    assert balances() == owed
    assert Invoice.objects.filter(period="2026-09").count() == 5 and Payment.objects.get(pk=w["p1"].pk)


def test_the_balance_brought_forward_rolls_on_and_is_not_rewritten_for_nothing(tenant) -> None:  # type: ignore[no-untyped-def]
    w = _billing_world()
    b = w["b"]
    owed = balances()
    apply()
    first = LedgerEntry.objects.get(client=b, reference=BROUGHT_FORWARD_REFERENCE)

    later = datetime(2033, 12, 1, 12, 0, tzinfo=UTC)  # now October's bills and P2 are past retention too
    run = apply(later)
    assert run.counts["ledger_entries"] >= 3 and balances() == owed
    forward = LedgerEntry.objects.get(client=b)  # B's old balance brought forward, October, P2: one entry
    assert forward.pk != first.pk and forward.reference == BROUGHT_FORWARD_REFERENCE
    assert (forward.amount, forward.booked_on.isoformat()) == (D("740.00"), "2026-12-01")

    # The next day the only entry past retention is that balance itself: nothing to roll.
    assert nonzero(apply(later + timedelta(days=1))) == {}
    assert LedgerEntry.objects.get(client=b).pk == forward.pk and balances() == owed


def test_a_client_whose_opening_balance_is_newer_than_its_old_entries_is_left_whole(tenant) -> None:  # type: ignore[no-untyped-def]
    """Its entries could not be replaced by a balance brought forward (a client has one opening
    balance), so none of its records goes."""
    client, _ = metered("Migrated late")
    LedgerEntry.objects.create(client=client, kind="opening_balance", amount=D("300"), booked_on=date(2026, 11, 23),
                               reference=client.account_number)
    backdated = _pay(client, "100", on("2026-09-01"), "RET-OLD")
    before, owed, due = table_counts(), balances(), old_audit()
    run = apply()
    assert nonzero(run) == with_audit({}, due)
    assert changed(before, table_counts()) == audit_change(due)
    assert Payment.objects.filter(pk=backdated.pk).exists() and balances() == owed


def test_closed_clients_are_pseudonymised_once_no_billing_record_of_theirs_is_left(tenant) -> None:  # type: ignore[no-untyped-def]
    gone, owing_recent, active = _billed("Gone Away", "Closed Recently Billed", "Still Here")
    for client in (gone, owing_recent, active):
        _pay(client, "1440", on("2026-11-10"), f"RET-{client.pk}")
    with travel("2026-12-05"):
        adjustment_post(client=owing_recent, amount="50", reason="Reconnection fee", actor="t")
    Client.objects.filter(pk__in=[gone.pk, owing_recent.pk]).update(status=Client.Status.CLOSED)
    later = datetime(2033, 12, 1, 12, 0, tzinfo=UTC)  # everything up to 30 Nov 2026 is past retention
    owed = balances()

    dry = apply(later, dry_run=True)
    assert dry.counts["clients_pseudonymised"] == 1
    assert not ErasureRecord.objects.exists()

    run = apply(later)

    assert run.counts["clients_pseudonymised"] == 1
    assert run.counts["invoices"] == 6 and run.counts["payments"] == 3
    record = ErasureRecord.objects.get()
    assert (record.client_id, record.reason, record.erased_by) == (gone.pk, "retention", "retention")
    gone.refresh_from_db()
    assert gone.full_name != "Gone Away" and record.pseudonym in gone.full_name
    owing_recent.refresh_from_db()
    assert owing_recent.full_name == "Closed Recently Billed"  # its fee of 5 Dec 2026 is still kept
    assert balances() == owed
    assert apply(later).counts["clients_pseudonymised"] == 0


# --- the owner's page -------------------------------------------------------------------------
URL = "/dashboard/privacy/retention/"


def _as(slug: str, email: str) -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def test_the_retention_page_is_for_the_owner_only(alpha) -> None:  # type: ignore[no-untyped-def]
    assert _as("alpha", "alice@alpha.test").get(URL).status_code == 200
    for email in ("amos@alpha.test", "anne@alpha.test", "ari@alpha.test", "carol@alpha.test"):
        http = _as("alpha", email)
        assert http.get(URL).status_code == 403, email
        assert http.post(URL + "preview/").status_code == 403, email
        assert http.post(URL, {"billing_years": "9"}).status_code == 403, email
    anonymous = Http(HTTP_HOST=host_of("alpha")).get(URL)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    with tenant_context(alpha):
        assert RetentionPolicy.load().billing_years == 7 and not RetentionRun.objects.exists()


def _policy_form(**changes: object) -> dict[str, object]:
    return {"billing_years": 7, "callback_days": 90, "audit_months": 12, "notification_months": 12, "export_days": 7,
            **changes}


def test_the_form_keeps_the_policy_within_legal_bounds(alpha) -> None:  # type: ignore[no-untyped-def]
    http = _as("alpha", "alice@alpha.test")
    refused = http.post(URL, _policy_form(billing_years=6, callback_days=20))
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Ensure this value is greater than or equal to 7." in body
    assert "Ensure this value is greater than or equal to 30." in body
    with tenant_context(alpha):
        assert RetentionPolicy.load().billing_years == 7
    assert http.post(URL, _policy_form(billing_years=11)).status_code == 400

    saved = http.post(URL, _policy_form(billing_years=8, callback_days=120, notification_months=6))
    assert saved.status_code == 302
    with tenant_context(alpha):
        policy = RetentionPolicy.load()
        assert (policy.billing_years, policy.callback_days, policy.notification_months) == (8, 120, 6)
        row = AuditEvent.objects.get(action="privacy.retention.settings_changed")
        assert row.actor == "alice@alpha.test" and row.category == "settings"
        assert row.extra_data["before"]["billing_years"] == 7 and row.extra_data["after"]["billing_years"] == 8
    page = http.get(URL).content.decode()
    assert 'name="billing_years"' in page and 'value="8"' in page and 'min="7"' in page and 'max="10"' in page


def test_the_preview_counts_under_the_forms_periods_and_removes_and_saves_nothing(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        for days in (200, 60):  # past the default 90 days, and past 30 but not 90
            with at(timezone_now() - timedelta(days=days)):
                CallbackInbox.objects.create(kind="stk_callback", body="{}", status="processed",
                                             processed=timezone_now())
        inbox = CallbackInbox.objects.count()
    http = _as("alpha", "alice@alpha.test")
    saved = http.post(URL + "preview/", _policy_form())
    assert saved.status_code == 200
    page = saved.content.decode()
    assert "Nothing was removed." in page and f"<dt>{RULE_LABELS['callbacks']}</dt><dd>1</dd>" in page
    assert 'data-testid="retention-unsaved"' not in page
    # Periods typed but not saved: counted as typed, kept in the form, and flagged as unsaved.
    tried = http.post(URL + "preview/", _policy_form(callback_days=30))
    page = tried.content.decode()
    assert f"<dt>{RULE_LABELS['callbacks']}</dt><dd>2</dd>" in page and 'value="30"' in page
    assert 'data-testid="retention-unsaved"' in page and "Raw payment callbacks" in page.split("retention-unsaved")[1]
    # Out of bounds: the form with its error, and no run.
    bad = http.post(URL + "preview/", _policy_form(callback_days=5))
    assert bad.status_code == 400 and "errorlist" in bad.content.decode()
    with tenant_context(alpha):
        assert CallbackInbox.objects.count() == inbox
        assert RetentionPolicy.load().callback_days == 90
        runs = list(RetentionRun.objects.all())
        assert len(runs) == 2 and all(r.dry_run for r in runs)
        assert sorted(r.counts["callbacks"] for r in runs) == [1, 2]
        with pytest.raises(ValueError):
            retention_apply(policy=RetentionPolicy(callback_days=30))
    # Previews are not listed among the runs that removed records.
    assert "No run yet" in http.get(URL).content.decode()
    # A real run forgets previews older than 30 days (and keeps the recent ones).
    with tenant_context(alpha):
        RetentionRun.objects.filter(pk=runs[0].pk).update(started=timezone_now() - timedelta(days=31))
        retention_apply()
        assert list(RetentionRun.objects.filter(dry_run=True).values_list("pk", flat=True)) == [runs[1].pk]


def test_each_provider_sees_only_its_own_runs(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        RetentionRun.objects.create(started=timezone_now(), finished=timezone_now(), cutoffs={"billing": "2019-01-01"},
                                    counts={"invoices": 4242})
    mine = _as("alpha", "alice@alpha.test").get(URL).content.decode()
    assert "<dd>4242</dd>" in mine and "2019-01-01" in mine
    theirs = _as("beta", "bob@beta.test").get(URL).content.decode()
    assert "4242" not in theirs and "2019-01-01" not in theirs and "No run yet" in theirs
    # Alpha's owner has no account on beta: the session does not carry over.
    alice = _as("alpha", "alice@alpha.test")
    alice.defaults["HTTP_HOST"] = host_of("beta")
    assert alice.get(URL).status_code == 302


def timezone_now() -> datetime:
    from django.utils import timezone

    return timezone.now()


# --- the command and the daily job ------------------------------------------------------------
def test_purge_retention_reports_per_provider_and_rule(tenant) -> None:  # type: ignore[no-untyped-def]
    with at(timezone_now() - timedelta(days=120)):
        CallbackInbox.objects.create(kind="c2b_confirmation", body="{}", status="processed", processed=timezone_now())
    out = io.StringIO()
    call_command("purge_retention", "--dry-run", "--schema", "alpha", stdout=out)
    text = out.getvalue()
    assert text.startswith("alpha: dry run, nothing removed (billing before 2019-")
    rows = [re.fullmatch(r"  (.+?) +(\d+) (would go|written)", line) for line in text.splitlines()[1:]]
    lines = {m[1]: int(m[2]) for m in rows if m}
    assert len(lines) == len(rows) and set(lines) == set(RULE_LABELS.values())
    assert lines[RULE_LABELS["callbacks"]] == 1 and lines[RULE_LABELS["invoices"]] == 0
    assert CallbackInbox.objects.count() == 1 and connection.schema_name == "alpha"

    out = io.StringIO()
    call_command("purge_retention", "--schema", "alpha", stdout=out)
    assert out.getvalue().startswith("alpha: applied")
    assert f"{RULE_LABELS['callbacks']}" in out.getvalue() and "1 removed" in out.getvalue()
    assert not CallbackInbox.objects.exists()
    with pytest.raises(CommandError):
        call_command("purge_retention", "--schema", "nowhere", stdout=io.StringIO())


def test_the_command_goes_through_every_active_provider(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("purge_retention", "--dry-run", stdout=out)
    heads = [line.split(":")[0] for line in out.getvalue().splitlines() if not line.startswith(" ")]
    assert "alpha" in heads and "beta" in heads and "gamma" not in heads  # gamma is suspended


def test_the_daily_job_applies_each_active_providers_policy(alpha, beta, gamma) -> None:  # type: ignore[no-untyped-def]
    import privacy.tasks  # noqa: F401  (a worker finds it by autodiscovery)
    from majismart.celery import PERIODIC_TASKS
    from tenants.tasks import fan_out

    spec = next(s for s in PERIODIC_TASKS.values() if s.get("args") == ["privacy.tasks.retention_apply_task"])
    assert spec["task"] == "tenants.tasks.fan_out" and spec["crontab"] == {"minute": "30", "hour": "2"}
    with tenant_context(alpha):
        with at(timezone_now() - timedelta(days=100)):
            CallbackInbox.objects.create(kind="c2b_confirmation", body="{}", status="processed", processed=timezone_now())
    connection.set_schema_to_public()
    sent = fan_out.apply(args=spec["args"]).get()
    assert "alpha" in sent and "beta" in sent and "gamma" not in sent
    for provider, removed in ((alpha, 1), (beta, 0), (gamma, None)):
        with tenant_context(provider):
            runs = list(RetentionRun.objects.values_list("dry_run", "counts"))
            if removed is None:
                assert runs == []
            else:
                assert len(runs) == 1 and runs[0][0] is False and runs[0][1]["callbacks"] == removed
