"""Billing runs against real PostgreSQL: consumption across roll-overs and replacements,
estimates and their true-up, penalties (once only), drafts, idempotent creation, finalising
(numbers, due dates, ledger), concurrent finalising with real threads, credit notes."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.dispatch import receiver
from django_tenants.utils import tenant_context
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import AuditEvent
from billing.models import BillingRun, BillingSettings, CreditNote, Invoice, LedgerEntry, Tariff
from billing.runs import (
    billing_run_discard,
    billing_run_finalize,
    billing_run_recompute,
    billing_run_start,
)
from billing.selectors import client_balance, client_statement, terms_of
from billing.services import adjustment_post, credit_note_create
from billing.signals import billing_run_finalized
from billing.tariffs import charge_for
from clients.models import Category, Client
from meters.services import meter_replace, reading_review, readings_record
from tests.billing_helpers import (
    D,
    domestic_tariff,
    invoice_of,
    lines_of,
    metered,
    on,
    own_provider,
    read,
    travel,
)


def test_consumption_is_the_difference_of_period_end_readings_billed_on_the_tariff(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "100", "2026-08-31")
    read(meter, "120", "2026-09-12")
    read(meter, "135", "2026-09-30")
    read(meter, "150", "2026-10-03")  # after the period: next time
    run, created = billing_run_start(period="2026-09")
    assert created and run.status == "draft"
    inv = invoice_of(client, "2026-09")
    assert (inv.consumption, inv.estimated, inv.status, inv.number) == (D("35.000"), False, "draft", None)
    assert (inv.previous_reading, inv.current_reading, inv.meter_serial) == (D("100.000"), D("135.000"), meter.serial)
    # The issue's example: 10 x 40 + 20 x 55 + 5 x 70 = 1,850.00, plus the fixed charge.
    assert lines_of(inv) == [("water", D("400.00")), ("water", D("1100.00")), ("water", D("350.00")),
                             ("fixed", D("100.00"))]
    assert inv.total == D("1950.00")


def test_a_roll_over_and_a_replacement_are_counted_through(tenant) -> None:  # type: ignore[no-untyped-def]
    rolled, small_dial = metered("Rolled Over", initial="950", capacity="999.999")
    read(small_dial, "990", "2026-08-31")
    read(small_dial, "5", "2026-09-30", reason="rollover")  # 990 -> 999.999 -> 0 -> 5: 10 + 5
    replaced, old = metered("Replaced Meter")
    read(old, "100", "2026-08-31")
    new = meter_replace(actor="test", meter=old, final_reading=D("120"), replaced_at=on("2026-09-15"),
                        new_serial=f"NEW-{old.serial}", new_initial_reading=D("0"))
    read(new, "10", "2026-09-30")
    billing_run_start(period="2026-09")
    assert invoice_of(rolled, "2026-09").consumption == D("15.000")
    inv = invoice_of(replaced, "2026-09")
    assert inv.consumption == D("30.000")  # 20 on the old meter, 10 on the new one
    assert (inv.meter_serial, inv.current_reading) == (new.serial, D("10.000"))


def test_skipped_clients_are_listed_with_their_reason(tenant) -> None:  # type: ignore[no-untyped-def]
    no_meter = Client.objects.create(account_number="B-NOMETER", full_name="Without Meter",
                                     category=Category.objects.get(code="domestic"))
    no_tariff, _ = metered("Kiosk Without Tariff", category="kiosk")
    later, _ = metered("Installed Later", installed=date(2026, 10, 5))
    closed, m = metered("Closed Account")
    Client.objects.filter(pk=closed.pk).update(status="closed")
    run, _ = billing_run_start(period="2026-09")
    skipped = {s["reason"]: [c["id"] for c in s["clients"]] for s in run.summary["skipped"]}
    assert no_meter.pk in skipped["no_meter"]
    assert no_tariff.pk in skipped["no_tariff"]
    assert later.pk in skipped["no_meter_in_period"]
    assert not Invoice.objects.filter(client__in=[no_meter, no_tariff, later, closed]).exists()
    assert any("skipped" in w for w in run.summary["warnings"])


def test_estimates_from_three_billed_periods_and_the_true_up(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    fresh, fresh_meter = metered("No History")
    read(meter, "0", "2026-05-31")
    for day, value in (("2026-06-30", "30"), ("2026-07-31", "61"), ("2026-08-31", "92")):
        read(meter, value, day)
        read(fresh_meter, "0", day)
    for period, finalise_on in (("2026-06", "2026-07-02"), ("2026-07", "2026-08-02"), ("2026-08", "2026-09-02")):
        with travel(finalise_on):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    # September: no reading. 30 + 31 + 31 m³ over 30 + 31 + 31 days = 1 m³ a day, x 30 days.
    with travel("2026-10-02"):
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    sep = invoice_of(client, "2026-09")
    assert (sep.estimated, sep.consumption, sep.reading_to, sep.current_reading) == (True, D("30.000"), None, None)
    assert invoice_of(fresh, "2026-09").consumption == D("0.000")  # zero used so far: zero estimated
    # October's reading trues up: 140 - 92 = 48 used since the last actual reading, 30 billed.
    read(meter, "140", "2026-10-31")
    with travel("2026-11-02"):
        run, _ = billing_run_start(period="2026-10")
    octo = invoice_of(client, "2026-10")
    assert (octo.estimated, octo.consumption) == (False, D("18.000"))
    assert (octo.previous_reading, octo.current_reading) == (D("92.000"), D("140.000"))
    assert lines_of(octo) == [("water", D("400.00")), ("water", D("440.00")), ("fixed", D("100.00"))]


def test_an_over_estimate_becomes_a_credit_never_a_negative_use(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "0", "2026-07-31")
    read(meter, "62", "2026-08-31")  # 2 m³ a day
    with travel("2026-09-02"):
        billing_run_finalize(run=billing_run_start(period="2026-08")[0])
    with travel("2026-10-02"):
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])  # estimated 60 m³
    sep = invoice_of(client, "2026-09")
    assert (sep.estimated, sep.consumption) == (True, D("60.000"))
    # September's water: 10 x 40 + 20 x 55 + 30 x 70 = 3,600.00 for 60 m³ = 60.00 per m³.
    assert sep.volumetric == D("3600.00")
    read(meter, "82", "2026-10-31")  # 20 m³ since August's reading: 40 m³ over-estimated
    with travel("2026-11-02"):
        run, _ = billing_run_start(period="2026-10")
        billing_run_finalize(run=run)
    octo = invoice_of(client, "2026-10")
    assert octo.consumption == D("0.000")
    assert lines_of(octo) == [("fixed", D("100.00")), ("estimate_credit", D("-2400.00"))]
    assert octo.total == D("-2300.00")
    kinds = dict(LedgerEntry.objects.filter(invoice=octo).values_list("kind", "amount"))
    assert kinds == {"invoice": D("100.00"), "adjustment": D("-2400.00")}
    assert run.summary["trued_up"] >= 1
    # The next period starts from October's actual reading: nothing pending any more.
    read(meter, "92", "2026-11-20")
    with travel("2026-11-23"):
        billing_run_start(period="2026-11")
    assert invoice_of(client, "2026-11").consumption == D("10.000")


def test_a_late_reading_is_billed_next_time_not_lost(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "100", "2026-08-31")
    read(meter, "150", "2026-09-20")
    with travel("2026-10-01"):
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    assert invoice_of(client, "2026-09").consumption == D("50.000")
    read(meter, "170", "2026-09-29")  # arrives after September was issued
    read(meter, "200", "2026-10-31")
    with travel("2026-11-02"):
        billing_run_start(period="2026-10")
    assert invoice_of(client, "2026-10").consumption == D("50.000")  # 20 late + 30: all 100 billed


def test_penalties_on_overdue_invoices_once_per_period(tenant) -> None:  # type: ignore[no-untyped-def]
    rules = BillingSettings.load()
    rules.penalty_percent, rules.penalty_grace_days, rules.due_days = D("10"), 3, 14
    rules.save()
    late, late_meter = metered("Late Payer")
    prompt, prompt_meter = metered("Prompt Payer")
    for m in (late_meter, prompt_meter):
        read(m, "0", "2026-07-31")
        read(m, "10", "2026-08-31")  # 400 + 100 fixed = 500.00
        read(m, "20", "2026-09-30")
        read(m, "30", "2026-10-31")
    with travel("2026-09-02"):
        billing_run_finalize(run=billing_run_start(period="2026-08")[0])
    aug = invoice_of(late, "2026-08")
    assert (aug.issued_on, aug.due_date) == (date(2026, 9, 2), date(2026, 9, 16))
    LedgerEntry.objects.create(client=prompt, kind="payment", amount=D("-500.00"), booked_on=date(2026, 9, 10),
                               reference="QWE123")
    # Due 16 Sep + 3 days' grace: on 19 Sep not yet overdue, on 20 Sep it is.
    with travel("2026-09-19"):
        run, _ = billing_run_start(period="2026-09")
        assert run.summary["penalties"] == 0
    with travel("2026-09-20"):
        run = billing_run_recompute(run=run)
        assert run.summary["penalties"] >= 1
        billing_run_finalize(run=run)
        billing_run_finalize(run=run)  # again: changes nothing
        again, created = billing_run_start(period="2026-09")
        assert (again.pk, created) == (run.pk, False)
    sep = invoice_of(late, "2026-09")
    penalty = [ln for ln in sep.lines.all() if ln.kind == "penalty"]
    assert [(p.unit_price, p.amount) for p in penalty] == [(D("500.0000"), D("50.00"))]
    assert "10% of KES 500.00 overdue" in penalty[0].description
    assert not [ln for ln in invoice_of(prompt, "2026-09").lines.all() if ln.kind == "penalty"]
    assert LedgerEntry.objects.filter(client=late, kind="penalty").count() == 1
    # October: August (500) and September (550) are both overdue by then; one penalty line.
    with travel("2026-11-02"):
        billing_run_start(period="2026-10")
    octo = [ln for ln in invoice_of(late, "2026-10").lines.all() if ln.kind == "penalty"]
    assert [(p.unit_price, p.amount) for p in octo] == [(D("1050.0000"), D("105.00"))]
    assert client_balance(late.pk) == D("1050.00")


def test_a_draft_is_recomputed_and_creation_is_idempotent(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "100", "2026-08-31")
    run, created = billing_run_start(period="2026-09")
    assert created and invoice_of(client, "2026-09").estimated
    assert billing_run_start(period="2026-09") == (run, False)
    assert BillingRun.objects.filter(period="2026-09").count() == 1
    read(meter, "112", "2026-09-30")
    run = billing_run_recompute(run=run)
    inv = invoice_of(client, "2026-09")
    assert (inv.estimated, inv.consumption) == (False, D("12.000"))
    assert Invoice.objects.filter(client=client).count() == 1
    assert AuditEvent.objects.filter(action="billing_run.recomputed").exists()


def test_finalising_issues_numbers_due_dates_and_ledger_entries(tenant) -> None:  # type: ignore[no-untyped-def]
    clients = []
    for i in range(3):
        c, m = metered(f"Client {i}")
        read(m, "0", "2026-09-30")
        read(m, str(5 + i), "2026-10-31")
        clients.append(c)
    with travel("2026-11-02"):
        run, _ = billing_run_start(period="2026-10")
        first_total = run.total
        run = billing_run_finalize(run=run)
    assert run.status == "finalized" and run.total == first_total
    numbers = sorted(Invoice.objects.filter(run=run).values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, run.invoice_count + 1)]  # gapless from 1
    for c in clients:
        inv = invoice_of(c, "2026-10")
        assert (inv.status, inv.issued_on, inv.due_date) == ("issued", date(2026, 11, 2), date(2026, 11, 16))
        entry = LedgerEntry.objects.get(invoice=inv)
        assert (entry.kind, entry.amount, entry.reference, entry.booked_on) == ("invoice", inv.total, inv.number,
                                                                               date(2026, 11, 2))
        assert client_balance(c.pk) == inv.total
    with pytest.raises(ValidationError, match="finalised"):
        billing_run_recompute(run=run)
    # An earlier period can no longer be billed once a later one is issued.
    with pytest.raises(ValidationError, match="already finalised for 2026-10"):
        billing_run_start(period="2026-08")


def test_finalising_a_stale_draft_bills_what_the_data_says_now(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "100", "2026-09-30")
    with travel("2026-11-02"):
        run, _ = billing_run_start(period="2026-10")
    read(meter, "104", "2026-10-30")
    with travel("2026-11-02"):
        run = billing_run_finalize(run=run)
    assert run.summary["recomputed_at_finalize"] is True
    assert run.summary["changed_since_preview"] is True and run.summary["preview_total"] != f"{run.total:.2f}"


def test_an_unchanged_draft_is_issued_as_previewed(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    """Committed transactions, as in production: the preview's snapshot tells what changed."""
    from billing.runs import run_changed_since_computed

    with own_provider(django_db_blocker, "same") as provider, django_db_blocker.unblock(), \
            tenant_context(provider), travel("2026-11-02"):
        domestic_tariff()
        client, meter = metered()
        other, other_meter = metered("Another")
        for m in (meter, other_meter):
            read(m, "100", "2026-09-30")
            read(m, "104", "2026-10-30")
        run, _ = billing_run_start(period="2026-10")
        assert run_changed_since_computed(run) is False
        september, _ = billing_run_start(period="2026-09")  # another run's drafts change nothing here
        billing_run_discard(run=september)
        assert run_changed_since_computed(run) is False
        run = billing_run_finalize(run=run)
        assert run.summary["recomputed_at_finalize"] is False and run.summary["changed_since_preview"] is False
        assert invoice_of(client, "2026-10").number.startswith("INV-2026-")
        # A payment (any ledger entry) after a preview counts as a change.
        november, _ = billing_run_start(period="2026-11")
        adjustment_post(client=other, amount="-50", reason="Paid at the office", actor="test")
        assert run_changed_since_computed(november) is True


@pytest.mark.parametrize(("period", "message"), [
    ("2026-13", "YYYY-MM"), ("Oct 2026", "YYYY-MM"), ("", "YYYY-MM"), ("2027-01", "has not started yet")])
def test_bad_periods_are_refused(tenant, period: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        billing_run_start(period=period)


def test_flagged_readings_are_a_warning_and_not_billed(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "0", "2026-06-30")
    for day, value in (("2026-07-31", "10"), ("2026-08-31", "20")):
        read(meter, value, day)
    readings_record([{"meter": meter.serial, "value": "400", "read_at": on("2026-09-30")}], source="api")
    run, _ = billing_run_start(period="2026-09")
    assert run.summary["flagged_readings"] >= 1 and any("flagged" in w for w in run.summary["warnings"])
    assert invoice_of(client, "2026-09").estimated
    flagged = meter.readings.get(status="flagged")
    reading_review(reading=flagged, accept=True, actor="test")
    run = billing_run_recompute(run=run)
    assert invoice_of(client, "2026-09").consumption == D("380.000")


def test_credit_notes_void_in_full_or_in_part_and_are_audited(tenant, alpha) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User

    anne = User.objects.get(email="anne@alpha.test")
    client, meter = metered()
    read(meter, "0", "2026-09-30")
    read(meter, "35", "2026-10-31")
    with travel("2026-11-02"):
        billing_run_finalize(run=billing_run_start(period="2026-10")[0])
    inv = invoice_of(client, "2026-10")  # 1,950.00
    part = credit_note_create(invoice=inv, amount="450.00", reason="Leak on the client's side, agreed", actor=anne)
    assert part.number.startswith("CN-2026-") and client_balance(client.pk) == D("1500.00")
    for amount, message in (("1500.01", "at most KES 1,500.00"), ("0", "more than zero"), ("12.345", "2 decimals")):
        with pytest.raises(ValidationError, match=message):
            credit_note_create(invoice=inv, amount=amount, reason="Too much", actor=anne)
    with pytest.raises(ValidationError, match="reason"):
        credit_note_create(invoice=inv, amount="10", reason="  ", actor=anne)
    credit_note_create(invoice=inv, amount="1500.00", reason="Billed in error", actor=anne)
    assert client_balance(client.pk) == D("0.00")
    inv.refresh_from_db()
    assert inv.total == D("1950.00") and inv.number.startswith("INV-")  # never edited
    assert sorted(CreditNote.objects.filter(invoice=inv).values_list("amount", flat=True)) == [D("450.00"), D("1500.00")]
    events = AuditEvent.objects.filter(action="credit_note.created")
    assert events.count() == 2 and events.first().actor == "anne@alpha.test"
    # A draft cannot be credited: it is recomputed instead.
    read(meter, "40", "2026-11-20")
    billing_run_start(period="2026-11")
    with pytest.raises(ValidationError, match="issued"):
        credit_note_create(invoice=invoice_of(client, "2026-11"), amount="1", reason="x" * 10, actor=anne)


def test_adjustments_post_to_the_ledger_with_a_reason(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _ = metered()
    entry = adjustment_post(client=client, amount="250.00", reason="Reconnection fee", actor="test")
    assert (entry.kind, entry.amount, entry.reference[:8]) == ("adjustment", D("250.00"), "ADJ-2026")
    adjustment_post(client=client, amount="-50", reason="Goodwill credit", actor="test")
    assert client_balance(client.pk) == D("200.00")
    with pytest.raises(ValidationError, match="must not be zero"):
        adjustment_post(client=client, amount="0", reason="Nothing", actor="test")
    assert AuditEvent.objects.filter(action="adjustment.posted").count() == 2


def test_finalising_sends_the_seam_signal_after_commit(tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    heard: list[dict] = []

    @receiver(billing_run_finalized, weak=False)
    def listen(sender, run_id, invoice_count, **kwargs):  # type: ignore[no-untyped-def]
        heard.append({"run": run_id, "invoices": sorted(Invoice.objects.filter(run_id=run_id).values_list("id", flat=True)),
                      "count": invoice_count, "schema": connection.schema_name})

    try:
        client, meter = metered()
        read(meter, "0", "2026-09-30")
        read(meter, "7", "2026-10-31")
        with travel("2026-11-02"), django_capture_on_commit_callbacks(execute=True) as callbacks:
            run = billing_run_finalize(run=billing_run_start(period="2026-10")[0])
            assert heard == []  # nothing before the commit
        assert len(callbacks) == 1
        ids = sorted(Invoice.objects.filter(run=run).values_list("id", flat=True))
        assert heard == [{"run": run.pk, "invoices": ids, "count": len(ids), "schema": "alpha"}]
    finally:
        billing_run_finalized.disconnect(listen)


# The SQL tariff maths against charge_for, on the same volumes (one transaction for all examples).
@pytest.mark.django_db
@settings(max_examples=25, deadline=None)
@given(volume=st.decimals(min_value=0, max_value=400, places=3),
       sewerage=st.decimals(min_value=0, max_value=80, places=2),
       minimum=st.decimals(min_value=0, max_value=900, places=2))
def test_the_run_bills_exactly_what_charge_for_says(volume: Decimal, sewerage: Decimal, minimum: Decimal) -> None:
    from tenants.models import Provider

    alpha = Provider.objects.get(slug="alpha")
    with tenant_context(alpha), travel("2026-11-23"):
        _drop_october()
        tariff = domestic_tariff(code="prop", sewerage_percent=sewerage, minimum_charge=minimum, meter_rent=D("20"),
                                 effective_from=date(2026, 10, 1),
                                 blocks=[(D("6.5"), D("33.33")), (D(20), D("51.17")), (None, D("77.01"))])
        client, meter = metered()
        read(meter, "1000", "2026-09-30")
        read(meter, str(D(1000) + volume), "2026-10-31")
        billing_run_start(period="2026-10")
        inv = invoice_of(client, "2026-10")
        expected = charge_for(terms_of(tariff), volume)
        got = [(ln.kind, ln.description, ln.quantity, ln.unit_price, ln.amount) for ln in inv.lines.all()]
        assert got == [(ln.kind, ln.description, ln.quantity, ln.unit_price, ln.amount) for ln in expected.lines]
        assert inv.total == expected.total
        _drop_october()


def _drop_october() -> None:
    with connection.cursor() as cursor:
        for table in ("billing_invoiceline", "billing_invoicemeter"):
            cursor.execute(f"DELETE FROM {table} WHERE invoice_id IN (SELECT id FROM billing_invoice "  # noqa: S608
                           "WHERE period = '2026-10' AND status = 'draft')")
        cursor.execute("DELETE FROM billing_invoice WHERE period = '2026-10' AND status = 'draft'")
        cursor.execute("DELETE FROM billing_billingrun WHERE period = '2026-10' AND status = 'draft'")
    Tariff.objects.filter(code="prop").delete()


def test_two_finalise_requests_at_once_produce_one_result(django_db_setup, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    """Committed data in a provider of its own (dropped afterwards), real threads, real connections."""
    with own_provider(django_db_blocker, "fin") as provider:
        with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-02"):
            domestic_tariff()
            for i in range(40):
                _, m = metered(f"Concurrent {i}")
                read(m, "0", "2026-09-30")
                read(m, str(3 + i), "2026-10-31")
            run, _ = billing_run_start(period="2026-10")
        results: list[tuple[str, int]] = []
        failures: list[BaseException] = []
        start = threading.Barrier(4)

        def finalise() -> None:
            try:
                with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-02"):
                    start.wait()
                    done = billing_run_finalize(run=BillingRun.objects.get(pk=run.pk))
                    results.append((done.status, done.invoice_count))
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                failures.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=finalise) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        assert results == [("finalized", 40)] * 4
        with django_db_blocker.unblock(), tenant_context(provider):
            numbers = sorted(Invoice.objects.values_list("number", flat=True))
            assert numbers == [f"INV-2026-{n:06d}" for n in range(1, 41)]
            assert LedgerEntry.objects.filter(kind="invoice").count() == 40
            assert AuditEvent.objects.filter(action="billing_run.finalized").count() == 1


def test_an_adjustment_posted_in_error_is_reversed_once(tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.services import entry_reverse

    client, _ = metered()
    fee = adjustment_post(client=client, amount="300", reason="Reconnection fee", actor="test")
    reversal = entry_reverse(entry=fee, reason="Charged to the wrong account", actor="test")
    assert (reversal.kind, reversal.amount, reversal.reverses_id, reversal.reference) == (
        "reversal", D("-300.00"), fee.pk, fee.reference)
    assert client_balance(client.pk) == D("0.00")
    with pytest.raises(ValidationError, match="already been reversed"):
        entry_reverse(entry=fee, reason="Again", actor="test")
    lines = {ln.reference + ln.kind: ln for ln in client_statement(client.pk).lines}
    assert lines[fee.reference + "adjustment"].reversed and not lines[fee.reference + "adjustment"].reversible
    opening = LedgerEntry.objects.create(client=client, kind="opening_balance", amount=D("10"), booked_on=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="Only a manual adjustment"):
        entry_reverse(entry=opening, reason="No", actor="test")


def test_a_late_reading_on_a_second_meter_is_billed_next_time(tenant) -> None:  # type: ignore[no-untyped-def]
    from meters.services import meter_create

    client, first = metered()
    second = meter_create(actor="test", serial=f"SECOND-{first.serial}", client=client, installed_on=date(2026, 1, 1))
    read(first, "100", "2026-08-31")
    read(second, "50", "2026-08-31")
    read(first, "120", "2026-09-30")
    read(second, "52", "2026-09-10")
    with travel("2026-10-01"):
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    assert invoice_of(client, "2026-09").consumption == D("22.000")
    # Arrives after September was issued, dated before the client's last reading; flagged (high
    # use) and accepted on review.
    readings_record([{"meter": second.serial, "value": "59", "read_at": on("2026-09-20")}], source="api")
    reading_review(reading=second.readings.get(status="flagged"), accept=True, actor="test")
    read(first, "125", "2026-10-31")
    with travel("2026-11-02"):
        billing_run_start(period="2026-10")
    octo = invoice_of(client, "2026-10")
    assert octo.consumption == D("12.000")  # 5 on the first meter and the 7 that came late
    assert sorted((m.serial, m.previous_reading, m.current_reading) for m in octo.meters.all()) == sorted([
        (first.serial, D("120.000"), D("125.000")), (second.serial, D("52.000"), D("59.000"))])


def test_a_first_bill_counts_a_reading_taken_at_midnight_on_the_first(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    readings_record([{"meter": meter.serial, "value": "20", "read_at": "2026-09-01"},
                     {"meter": meter.serial, "value": "45", "read_at": "2026-09-30"}], source="api")
    billing_run_start(period="2026-09")
    assert invoice_of(client, "2026-09").consumption == D("45.000")  # from the initial reading 0


def test_a_credit_note_waives_money_and_does_not_rebill_water(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered()
    read(meter, "0", "2026-07-31")
    read(meter, "10", "2026-08-31")
    read(meter, "30", "2026-09-30")
    for period, day in (("2026-08", "2026-09-02"), ("2026-09", "2026-10-02")):
        with travel(day):
            billing_run_finalize(run=billing_run_start(period=period)[0])
    sep = invoice_of(client, "2026-09")
    credit_note_create(invoice=sep, amount=sep.total, reason="Goodwill: burst pipe in the estate", actor="test")
    read(meter, "35", "2026-10-31")
    with travel("2026-11-02"):
        billing_run_start(period="2026-10")
    assert invoice_of(client, "2026-10").consumption == D("5.000")


def test_a_disconnected_client_gets_a_final_bill_and_no_estimates(tenant) -> None:  # type: ignore[no-untyped-def]
    leaving, meter = metered("Leaving Client")
    gone, gone_meter = metered("Long Gone")
    read(meter, "0", "2026-09-30")
    read(gone_meter, "0", "2026-09-30")
    read(meter, "9", "2026-10-20")  # the final reading
    Client.objects.filter(pk__in=[leaving.pk, gone.pk]).update(status="disconnected")
    run, _ = billing_run_start(period="2026-10")
    final = invoice_of(leaving, "2026-10")
    assert (final.consumption, final.estimated) == (D("9.000"), False)
    assert not Invoice.objects.filter(client=gone).exists()
    assert run.summary["final_bills"] == 1 and any("final bill" in w for w in run.summary["warnings"])


def test_a_disconnected_client_is_billed_its_fixed_charges_when_the_provider_says_so(tenant) -> None:  # type: ignore[no-untyped-def]
    """Domestic: fixed charge 100.00 (the tenant's tariff) — a minimum charge of 250.00 and 20%
    sewerage here must not reach a client billed only its standing charges."""
    from billing.services import disconnected_billing_set
    from tests.billing_helpers import domestic_tariff

    domestic_tariff(code="dom-min", effective_from=date(2026, 1, 2), minimum_charge=D("250.00"),
                    sewerage_percent=D("20"), meter_rent=D("50.00"))
    leaving, meter = metered("Leaving Client")
    gone, gone_meter = metered("Long Gone")
    read(meter, "0", "2026-09-30")
    read(gone_meter, "0", "2026-09-30")
    read(meter, "9", "2026-10-20")  # the final reading
    Client.objects.filter(pk__in=[leaving.pk, gone.pk]).update(status="disconnected")
    disconnected_billing_set(value=True, actor="test")
    run, _ = billing_run_start(period="2026-10")
    # Gone (nothing read since): fixed charge 100.00 + meter rent 50.00 = 150.00, no water, no
    # minimum top-up, no sewerage, not an estimate.
    standing = invoice_of(gone, "2026-10")
    assert [(ln.kind, ln.amount) for ln in standing.lines.all()] == [("fixed", D("100.00")), ("meter_rent", D("50.00"))]
    assert (standing.total, standing.consumption, standing.estimated) == (D("150.00"), D("0.000"), False)
    # Leaving (read 9 m³ before it left): its final bill as before: 9 × 40 = 360.00 water (above
    # the minimum), sewerage 20% = 72.00, fixed 100.00, rent 50.00.
    final = invoice_of(leaving, "2026-10")
    assert (final.total, final.estimated) == (D("582.00"), False)

    # The provider's default: a disconnected client's charges stop (only the final bill).
    disconnected_billing_set(value=False, actor="test")
    billing_run_recompute(run=run)
    assert not Invoice.objects.filter(client=gone).exists()
    assert invoice_of(leaving, "2026-10").total == D("582.00")


def test_a_late_run_judges_overdue_invoices_at_its_periods_end(tenant) -> None:  # type: ignore[no-untyped-def]
    rules = BillingSettings.load()
    rules.penalty_percent, rules.penalty_grace_days, rules.due_days = D("10"), 0, 14
    rules.save()
    client, meter = metered()
    read(meter, "0", "2026-06-30")
    read(meter, "10", "2026-07-31")  # 500.00
    read(meter, "20", "2026-08-31")
    with travel("2026-08-20"):
        billing_run_finalize(run=billing_run_start(period="2026-07")[0])  # due 3 Sep
    # August billed late, on 5 October: at August's end July's bill was not yet due.
    with travel("2026-10-05"):
        run, _ = billing_run_start(period="2026-08")
    assert run.as_of == date(2026, 8, 31)
    assert not [ln for ln in invoice_of(client, "2026-08").lines.all() if ln.kind == "penalty"]


def test_periods_are_issued_in_order_and_a_draft_can_be_discarded(tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.runs import billing_run_discard

    client, meter = metered()
    read(meter, "0", "2026-08-31")
    read(meter, "5", "2026-09-30")
    read(meter, "9", "2026-10-31")
    september, _ = billing_run_start(period="2026-09")
    october, _ = billing_run_start(period="2026-10")
    with pytest.raises(ValidationError, match="draft for 2026-09 first"):
        billing_run_finalize(run=october)
    billing_run_discard(run=september, actor="test")
    assert not BillingRun.objects.filter(period="2026-09").exists()
    assert not Invoice.objects.filter(period="2026-09").exists()
    # The provider's first bill: October's water only (September was never billed, by choice).
    assert invoice_of(client, "2026-10").consumption == D("4.000")
    billing_run_finalize(run=october)
    with pytest.raises(ValidationError, match="finalised"):
        billing_run_discard(run=october, actor="test")
    assert AuditEvent.objects.filter(action="billing_run.discarded").count() == 1


def test_a_reading_still_uncommitted_while_the_preview_was_computed_is_issued(  # type: ignore[no-untyped-def]
        django_db_setup, django_db_blocker) -> None:
    """A reading written by a transaction that was open during the preview, committed after it:
    finalising sees it (real connections, committed data in a provider of its own)."""
    with own_provider(django_db_blocker, "snap") as provider:
        with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-02"):
            domestic_tariff()
            client, meter = metered("Open Transaction")
            read(meter, "100", "2026-09-30")
            read(meter, "104", "2026-10-20")
        written, release, failures = threading.Event(), threading.Event(), []

        def writer() -> None:
            try:
                with django_db_blocker.unblock(), tenant_context(provider), transaction.atomic():
                    read(meter, "110", "2026-10-31")
                    written.set()
                    release.wait(30)
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                failures.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=writer)
        thread.start()
        assert written.wait(30)
        # Another transaction commits meanwhile (a busy server): the snapshot's horizon moves past
        # the reading's id, which is a savepoint's (subtransaction) id the snapshot does not list.
        import psycopg

        from devkit.testing import test_database_url
        with psycopg.connect(test_database_url(), autocommit=True) as other:
            other.execute("SELECT pg_current_xact_id()")
        with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-02"):
            run, _ = billing_run_start(period="2026-10")
            assert invoice_of(client, "2026-10").consumption == D("4.000")  # the open write is not seen
        release.set()
        thread.join(30)
        assert failures == []
        with django_db_blocker.unblock(), tenant_context(provider), travel("2026-11-02"):
            run = billing_run_finalize(run=BillingRun.objects.get(pk=run.pk))
            assert run.summary["recomputed_at_finalize"] is True
            assert invoice_of(client, "2026-10").consumption == D("10.000")
