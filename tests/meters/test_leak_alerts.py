"""Leak and spike alerts (issue 21): hand-computed thresholds, one message per episode, bulk
detection on import, the signed report link, staff closing, roles and provider isolation.

The usual use in these tests: readings 30 days apart (1 Jun, 1 Jul, 31 Jul, 30 Aug 2026), 10 m³
a period, so for the next 30-day period the threshold is 2 × (10 + 10 + 10) × 30 / 90 = 20.000 m³.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from clients.models import Client
from fieldwork.models import ServiceRequest
from meters.alerts import leak_link_token, leak_settings_update
from meters.imports import readings_import
from meters.models import LeakEpisode, Meter, Reading
from meters.services import reading_review, readings_record
from notifications.catalog import EVENTS
from notifications.models import Message
from notifications.text import fill, sms_size
from tests.billing_helpers import metered, on, read
from tests.conftest import host_of
from tests.fieldwork.helpers import as_user
from tests.notifications_helpers import sms_ready

INSTALLED = date(2026, 5, 2)  # 30 days before the first reading: its period is like the others
BASELINE = [("10", "2026-06-01"), ("20", "2026-07-01"), ("30", "2026-07-31"), ("40", "2026-08-30")]
NEXT = "2026-09-29"  # 30 days after the last baseline reading


def reachable(name: str = "Faith Wanjiru") -> tuple[Client, Meter]:
    client, meter = metered(name, installed=INSTALLED)
    client.phone, client.email = "+254712000111", "faith@example.com"
    client.save(update_fields=["phone", "email"])
    return client, meter


def usual(meter: Meter, per_period: str = "10") -> None:
    """Four readings 30 days apart, `per_period` m³ between each (the first counts from the initial)."""
    step, value = D(per_period), D(0)
    for _, day in BASELINE:
        value += step
        read(meter, f"{value:.3f}", day)


def last_value(meter: Meter) -> D:
    return Reading.objects.filter(meter=meter).order_by("-read_at").first().value  # type: ignore[union-attr]


def use(meter: Meter, m3: str, day: str = NEXT) -> None:
    read(meter, f"{last_value(meter) + D(m3):.3f}", day)


def episodes(meter: Meter) -> list[LeakEpisode]:
    return list(LeakEpisode.objects.filter(meter=meter).order_by("id"))


def alerts_to(client: Client, channel: str = "sms") -> list[Message]:
    return list(Message.objects.filter(event="leak_alert", client_id=client.pk, channel=channel).order_by("id"))


# --- thresholds --------------------------------------------------------------------------------
@pytest.mark.parametrize(("per_period", "m3", "alert"), [
    ("10", "20.000", False),  # exactly 2 × usual: not over it
    ("10", "20.001", True),  # one litre over
    ("4", "9.999", False),  # 2.5 × usual (threshold 8.000) but under the 10 m³ minimum
    ("4", "10.000", True),  # the minimum reached, over 8.000
])
def test_a_spike_is_over_twice_the_usual_and_at_least_the_minimum(tenant, per_period: str, m3: str,
                                                                   alert: bool) -> None:  # type: ignore[no-untyped-def]
    _, meter = reachable()
    usual(meter, per_period)
    use(meter, m3)
    assert Reading.objects.filter(meter=meter).latest("read_at").status == "accepted"
    found = episodes(meter)
    assert bool(found) is alert
    if alert:
        e = found[0]
        assert (e.rule, e.state, e.m3_since) == ("spike", "open", D(m3))
        assert e.threshold == (D("20.000") if per_period == "10" else D("8.000"))
        assert e.started == on("2026-08-30") and e.first_read_at == on(NEXT)


def test_the_usual_is_a_daily_rate_so_a_missed_month_is_no_spike(tenant) -> None:  # type: ignore[no-untyped-def]
    _, meter = reachable()
    usual(meter)
    use(meter, "39.999", "2026-10-29")  # 60 days: threshold 2 × 30 × 60 / 90 = 40.000
    assert episodes(meter) == []
    _, other = reachable("Other Client")
    usual(other)
    use(other, "40.001", "2026-10-29")
    assert episodes(other)[0].threshold == D("40.000")


def test_provider_rules_change_the_threshold(tenant) -> None:  # type: ignore[no-untyped-def]
    leak_settings_update(actor="test", factor=D("1.50"), min_m3=D("5.000"))
    _, meter = reachable()
    usual(meter)
    use(meter, "15.001")  # 1.5 × 30 × 30 / 90 = 15.000
    assert episodes(meter)[0].threshold == D("15.000")
    leak_settings_update(actor="test", enabled=False)
    _, other = reachable("Other Client")
    usual(other)
    use(other, "29.000")
    assert episodes(other) == []
    assert AuditEvent.objects.filter(action="leak_alert.settings_changed").count() == 2


def test_continuous_use_on_a_meter_read_daily(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, meter = reachable()
    read(meter, "100.000", "2026-11-10")
    read(meter, "100.600", "2026-11-11")
    read(meter, "101.200", "2026-11-12")
    assert episodes(meter) == []  # two days only
    read(meter, "101.700", "2026-11-13")  # the third day used 0.500: not over the floor
    assert episodes(meter) == []
    read(meter, "102.300", "2026-11-14")  # 0.600, 0.500, 0.600: still one day at the floor
    read(meter, "102.900", "2026-11-15")
    assert episodes(meter) == []
    read(meter, "103.500", "2026-11-16")  # 0.600 × 3 (14th, 15th, 16th)
    [e] = episodes(meter)
    assert (e.rule, e.m3_since, e.started, e.threshold) == ("continuous", D("1.800"), on("2026-11-13"), D("0.500"))
    [sms] = alerts_to(client)
    assert "1.800 m3 used since 13 Nov 2026" in sms.text and "possible leak" in sms.text
    read(meter, "104.100", "2026-11-17")  # goes on: the same episode, nothing sent
    e.refresh_from_db()
    assert (e.state, e.m3_since, e.last_read_at) == ("open", D("2.400"), on("2026-11-17"))
    read(meter, "104.200", "2026-11-18")  # 0.100: it stopped
    e.refresh_from_db()
    assert (e.state, e.closed_how, e.closed_by) == ("closed", "auto", None)
    for day, value in (("2026-11-19", "104.800"), ("2026-11-20", "105.400"), ("2026-11-21", "106.000")):
        read(meter, value, day)
    assert [x.state for x in episodes(meter)] == ["closed", "open"]
    assert len(alerts_to(client)) == 2  # a new episode is told again


def test_a_meter_read_weekly_is_not_continuous_use(tenant) -> None:  # type: ignore[no-untyped-def]
    _, meter = reachable()
    for value, day in (("100", "2026-10-01"), ("104", "2026-10-08"), ("108", "2026-10-15"), ("112", "2026-10-22")):
        read(meter, value, day)
    assert episodes(meter) == []


# --- one message per episode -------------------------------------------------------------------
def test_one_message_per_episode_and_a_new_one_after_staff_close_it(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, meter = reachable()
    usual(meter)
    use(meter, "25.000")  # 29 Sep: over 20.000
    [e] = episodes(meter)
    [sms] = alerts_to(client)
    [mail] = alerts_to(client, "email")
    assert sms.recipient == "+254712000111" and sms.status == "queued"
    assert f"/leak/{leak_link_token(e)}/" in sms.text and "25.000 m3 used since 30 Aug 2026" in sms.text
    assert sms_size(sms.text).segments == 1
    assert mail.subject.endswith(f"possible leak on account {client.account_number}") and "25.000 m³" in mail.text
    # Still over the usual from before the episode (20.000): the same episode, nothing sent.
    use(meter, "25.000", "2026-10-29")
    e.refresh_from_db()
    assert (e.state, e.m3_since, e.last_read_at) == ("open", D("50.000"), on("2026-10-29"))
    assert len(alerts_to(client)) == 1
    amos = as_user("amos@alpha.test")
    assert amos.post(f"/dashboard/readings/leak-alerts/{e.pk}/close/", {"note": "Visited, tap fixed"}).status_code == 302
    e.refresh_from_db()
    assert (e.state, e.closed_how, e.closed_by.email, e.close_note) == ("closed", "staff", "amos@alpha.test",
                                                                         "Visited, tap fixed")
    assert AuditEvent.objects.filter(action="leak_alert.closed", target_type="client", target_id=client.pk).count() == 1
    # 22 Nov, 24 days: usual now 25 + 25 + 10 over 90 days: 2 × 60 × 24 / 90 = 32.000.
    use(meter, "35.000", "2026-11-22")
    assert [x.state for x in episodes(meter)] == ["closed", "open"]
    assert episodes(meter)[1].threshold == D("32.000")
    assert len(alerts_to(client)) == 2


def test_a_reading_under_the_threshold_closes_the_episode(tenant) -> None:  # type: ignore[no-untyped-def]
    _, meter = reachable()
    usual(meter)
    use(meter, "25.000")
    use(meter, "20.000", "2026-10-29")
    [e] = episodes(meter)
    assert (e.state, e.closed_how, e.last_read_at) == ("closed", "auto", on(NEXT))


def test_a_late_reading_of_an_earlier_day_judges_nothing(tenant) -> None:  # type: ignore[no-untyped-def]
    _, meter = reachable()
    usual(meter)
    use(meter, "25.000")
    read(meter, "45.000", "2026-09-10")  # between 30 Aug and 29 Sep; the newest is still 29 Sep's
    [e] = episodes(meter)
    assert e.state == "open" and e.last_read_at == on(NEXT)


def test_a_flagged_spike_alerts_once_accepted_on_review(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, meter = reachable()
    usual(meter)
    use(meter, "31.000")  # over 3 × the recent daily average: waits for review
    reading = Reading.objects.filter(meter=meter).latest("read_at")
    assert reading.status == "flagged" and episodes(meter) == []
    reading_review(reading=reading, accept=True, actor="test")
    [e] = episodes(meter)
    assert e.m3_since == D("31.000") and len(alerts_to(client)) == 1


def test_the_default_sms_fits_one_part_with_a_real_link() -> None:
    values = {"provider": "Mombasa Water Works", "account": "MWW00042", "volume": "125.500", "since": "02 Nov 2026",
              "link": "https://mombasa-water.majismart.co.ke/leak/1a2b-AbCdEfGhIjKl/"}
    assert sms_size(fill(EVENTS["leak_alert"].sms, values)).segments == 1


# --- in bulk -----------------------------------------------------------------------------------
def _import(meters: list[Meter], spikes: int) -> tuple[int, object]:
    rows = ["meter,value,read_at"]
    for i, meter in enumerate(meters):
        rows.append(f"{meter.serial},{D('40') + (D('25') if i < spikes else D('5')):.3f},{NEXT}T09:00:00+03:00")
    with CaptureQueriesContext(connection) as queries:
        summary = readings_import(io.BytesIO(("\n".join(rows) + "\n").encode()))
    return len(queries), summary


def _baseline(count: int) -> list[Meter]:
    meters = [reachable(f"Bulk Client {i}")[1] for i in range(count)]
    rows = [{"meter": m.serial, "value": str(10 * (k + 1)), "read_at": on(day)} for m in meters
            for k, (_, day) in enumerate(BASELINE)]
    assert readings_record(rows, source="api", want_ids=False).errors == []
    return meters


def test_an_import_detects_in_a_few_statements_whatever_the_number_of_alerts(tenant) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    few, many = _baseline(4), _baseline(40)
    assert connection.tenant.domain  # the provider's address, looked up once per connection for the links
    small, small_summary = _import(few, spikes=1)
    large, large_summary = _import(many, spikes=30)
    assert small_summary.created == 4 and large_summary.created == 40  # type: ignore[attr-defined]
    assert LeakEpisode.objects.filter(meter__in=few).count() == 1
    assert LeakEpisode.objects.filter(meter__in=many).count() == 30
    assert Message.objects.filter(event="leak_alert", channel="sms").count() == 31
    # The same statements for 1 alert or 30: detection, then the messages made in bulk (each
    # client's language read with them, in one statement).
    assert small == large == 34


# --- the client's link -------------------------------------------------------------------------
def _spiked(client_meter: tuple[Client, Meter] | None = None) -> tuple[Client, Meter, LeakEpisode]:
    client, meter = client_meter or reachable()
    usual(meter)
    use(meter, "25.000")
    return client, meter, episodes(meter)[0]


def test_the_link_reports_a_leak_once_without_logging_in(tenant, alpha_client) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    client, _, e = _spiked()
    url = f"/leak/{leak_link_token(e)}/"
    page = alpha_client.get(url)
    assert page.status_code == 200 and b"25.000 m\xc2\xb3" in page.content and b"Report it as a leak" in page.content
    assert client.account_number.encode() in page.content and client.full_name.encode() not in page.content
    assert alpha_client.post(url, {"note": "Wet ground by the gate"}).status_code == 302
    assert alpha_client.post(url, {}).status_code == 302  # pressed again (or reloaded): nothing more
    [made] = ServiceRequest.objects.filter(client=client)
    assert (made.kind, made.channel, made.status) == ("leak", "sms", "open")
    assert "25.000 m³ used since 30 Aug 2026" in made.description and "Wet ground by the gate" in made.description
    e.refresh_from_db()
    assert e.report_reference == made.reference and e.reported_at is not None
    again = alpha_client.get(url)
    assert made.reference.encode() in again.content and b"leak-form" not in again.content
    assert Message.objects.filter(event="service_request_received", client_id=client.pk, channel="sms").count() == 1


def test_a_tampered_expired_or_foreign_link_opens_nothing(tenant, alpha_client, beta_client) -> None:  # type: ignore[no-untyped-def]
    _, _, e = _spiked()
    token = leak_link_token(e)
    head, _, mac = token.partition("-")
    forged = [f"{head}-{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}", f"{int(head, 36) + 1:x}-{mac}", "zzz", "-", token + "x"]
    for bad in forged:
        assert alpha_client.get(f"/leak/{bad}/").status_code == 404, bad
        assert alpha_client.post(f"/leak/{bad}/").status_code == 404, bad
    assert beta_client.get(f"/leak/{token}/").status_code == 404  # another provider's address
    with time_machine.travel("2026-12-24 10:00+03:00"):  # 31 days after the alert opened
        assert alpha_client.get(f"/leak/{token}/").status_code == 404
    assert not ServiceRequest.objects.exists()


# --- staff pages, roles, isolation -------------------------------------------------------------
def test_staff_see_alerts_on_the_client_page_and_the_list(tenant) -> None:  # type: ignore[no-untyped-def]
    client, _, e = _spiked()
    quiet, _ = reachable("Quiet Client")
    amos, ari = as_user("amos@alpha.test"), as_user("ari@alpha.test")
    page = amos.get(f"/dashboard/clients/{client.pk}/")
    assert b'data-testid="client-leak-alerts"' in page.content and b"Close alert" in page.content
    reader = ari.get(f"/dashboard/clients/{client.pk}/")  # meter readers see it, cannot close it
    assert b'data-testid="client-leak-alerts"' in reader.content and b"Close alert" not in reader.content
    assert b"client-leak-alerts" not in amos.get(f"/dashboard/clients/{quiet.pk}/").content
    listed = amos.get("/dashboard/clients/?alert=open")
    assert client.account_number.encode() in listed.content and quiet.account_number.encode() not in listed.content
    assert b'href="/dashboard/clients/?alert=open"' in amos.get("/dashboard/clients/").content
    alerts = amos.get("/dashboard/readings/leak-alerts/")
    assert alerts.status_code == 200 and client.account_number.encode() in alerts.content


def test_roles_for_closing_and_the_rules(tenant) -> None:  # type: ignore[no-untyped-def]
    _, _, e = _spiked()
    form = {"enabled": "on", "factor": "2.50", "min_m3": "8", "continuous_days": "4", "continuous_floor_m3": "0.4"}
    for email in ("anne@alpha.test", "ari@alpha.test"):
        person = as_user(email)
        assert person.post(f"/dashboard/readings/leak-alerts/{e.pk}/close/").status_code == 403
        assert person.post("/dashboard/readings/leak-alerts/", form).status_code == 403
        assert person.get("/dashboard/readings/leak-alerts/").status_code == 200
    e.refresh_from_db()
    assert e.state == "open"
    assert b"settings-leak-alerts" not in as_user("anne@alpha.test").get("/dashboard/settings/").content
    alice = as_user("alice@alpha.test")
    assert b"settings-leak-alerts" in alice.get("/dashboard/settings/").content
    assert alice.post("/dashboard/readings/leak-alerts/", {**form, "factor": "1.0"}).status_code == 400
    assert alice.post("/dashboard/readings/leak-alerts/", form).status_code == 302
    from meters.models import LeakAlertSettings

    cfg = LeakAlertSettings.load()
    assert (cfg.factor, cfg.min_m3, cfg.continuous_days, cfg.continuous_floor_m3) == (D("2.50"), D("8"), 4, D("0.4"))
    assert alice.post(f"/dashboard/readings/leak-alerts/{e.pk}/close/").status_code == 302
    closed = alice.post(f"/dashboard/readings/leak-alerts/{e.pk}/close/")  # already closed: said, nothing changes
    assert closed.status_code == 302 and AuditEvent.objects.filter(action="leak_alert.closed").count() == 1


def test_the_client_sees_their_own_alert_in_the_portal(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = reachable("Carol Chebet")
    Client.objects.filter(pk=client.pk).update(user=User.objects.get(email="carol@alpha.test"))
    _, _, e = _spiked((client, meter))
    home = as_user("carol@alpha.test").get("/portal/")
    assert b'data-testid="portal-leak-alert"' in home.content and f"/leak/{leak_link_token(e)}/".encode() in home.content


def test_another_provider_sees_nothing_of_it(tenant, beta) -> None:  # type: ignore[no-untyped-def]
    client, _, e = _spiked()
    with tenant_context(beta):
        assert not LeakEpisode.objects.exists()
    bob = as_user("bob@beta.test", "beta")
    assert client.account_number.encode() not in bob.get("/dashboard/readings/leak-alerts/").content
    assert bob.post(f"/dashboard/readings/leak-alerts/{e.pk}/close/").status_code == 404
    assert bob.get("/dashboard/clients/?alert=open").status_code == 200
    connection.set_tenant(tenant)
    e.refresh_from_db()
    assert e.state == "open"
    assert host_of("beta") != host_of("alpha")


def test_the_clients_data_export_holds_their_alerts(tenant) -> None:  # type: ignore[no-untyped-def]
    from privacy.exports import client_datasets

    client, meter, e = _spiked()
    other, _, _ = _spiked(reachable("Other Client"))
    [alerts] = [d for d in client_datasets(client) if d.name == "leak_alerts"]
    rows = list(alerts.rows())
    assert len(rows) == 1 and rows[0][0] == meter.serial and rows[0][1] == "spike" and rows[0][4] == D("25.000")


def test_readings_posted_through_the_api_and_the_entry_form_alert_too(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    sms_ready()
    by_api, api_meter = reachable("Api Client")
    by_hand, form_meter = reachable("Form Client")
    usual(api_meter)
    usual(form_meter)
    bulk = alpha_api.post("/api/v1/readings/bulk/", [
        {"meter": api_meter.serial, "value": "70.001", "read_at": "2026-10-29T09:00:00+03:00"},
        {"meter": api_meter.serial, "value": "50.000", "read_at": f"{NEXT}T09:00:00+03:00"}], format="json")
    assert bulk.status_code == 200 and bulk.json()["created"] == 2
    # Judged once, at its newest reading (29 Oct): 20.001 over the usual of the three before (20.000).
    [e] = episodes(api_meter)
    assert (e.m3_since, e.started, e.first_read_at) == (D("20.001"), on(NEXT), on("2026-10-29"))
    amos = as_user("amos@alpha.test")
    posted = amos.post(f"/dashboard/meters/{form_meter.pk}/reading/",
                       {"value": "65.500", "read_on": NEXT, "read_time": "09:00", "back": "client"})
    assert posted.status_code == 302
    assert episodes(form_meter)[0].m3_since == D("25.500")
    assert len(alerts_to(by_api)) == len(alerts_to(by_hand)) == 1


# --- API ---------------------------------------------------------------------------------------
def test_the_api_lists_and_closes_alerts(tenant, alpha_api, beta_api) -> None:  # type: ignore[no-untyped-def]
    client, meter, e = _spiked()
    quiet, _ = reachable("Quiet Client")
    listed = alpha_api.get("/api/v1/leak-alerts/?state=open").json()
    assert listed["count"] == 1 and listed["results"][0] == {
        "id": e.pk, "client": client.pk, "account_number": client.account_number, "meter": meter.serial,
        "rule": "spike", "started": "2026-08-30T09:00:00+03:00", "last_read_at": "2026-09-29T09:00:00+03:00",
        "m3_since": "25.000", "threshold": "20.000", "state": "open", "closed_at": None, "closed_how": "",
        "report_reference": ""}
    assert alpha_api.get(f"/api/v1/leak-alerts/?client={quiet.pk}").json()["count"] == 0
    assert beta_api.get("/api/v1/leak-alerts/").json()["count"] == 0
    assert beta_api.post(f"/api/v1/leak-alerts/{e.pk}/close/", {}, format="json").status_code == 404
    connection.set_tenant(tenant)
    closed = alpha_api.post(f"/api/v1/leak-alerts/{e.pk}/close/", {"note": "False alarm"}, format="json")
    assert closed.status_code == 200 and (closed.json()["state"], closed.json()["closed_how"]) == ("closed", "staff")
    again = alpha_api.post(f"/api/v1/leak-alerts/{e.pk}/close/", {}, format="json")
    assert again.status_code == 400
    assert alpha_api.get("/api/v1/leak-alerts/?state=open").json()["count"] == 0


def test_the_alert_lists_read_in_a_pinned_number_of_queries(tenant, alpha_api) -> None:  # type: ignore[no-untyped-def]
    amos = as_user("amos@alpha.test")

    def counted(url: str, http) -> int:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as queries:
            assert http.get(url).status_code == 200
        return len(queries)

    _spiked()
    counted("/api/v1/leak-alerts/", alpha_api), counted("/dashboard/readings/leak-alerts/", amos)  # warm: key, session
    one = (counted("/api/v1/leak-alerts/", alpha_api), counted("/dashboard/readings/leak-alerts/", amos))
    for i in range(3):
        _spiked(reachable(f"More Client {i}"))
    connection.set_tenant(tenant)
    assert alpha_api.get("/api/v1/leak-alerts/").json()["count"] == 4
    four = (counted("/api/v1/leak-alerts/", alpha_api), counted("/dashboard/readings/leak-alerts/", amos))
    assert one == four == (6, 8)
