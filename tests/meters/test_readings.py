"""Every validation rule and anomaly flag of readings, through the one recording service and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from clients.models import Category, Client
from meters import validation as v
from meters.models import Meter, Reading
from meters.services import (
    consumption_recompute,
    meter_create,
    meter_replace,
    reading_review,
    readings_record,
)

NBO = ZoneInfo("Africa/Nairobi")


def at(day: str, hour: int = 9) -> str:
    return f"{day}T{hour:02d}:00:00+03:00"


@pytest.fixture
def meter(alpha):  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        client = Client.objects.create(account_number="T001", full_name="Test Client",
                                       category=Category.objects.get(code="domestic"))
        yield meter_create(actor="test", serial="sn-100", client=client, installed_on=date(2025, 1, 1),
                           initial_reading=Decimal("100.000"), dial_capacity=Decimal("9999.999"))


def record(*rows: dict, source: str = Reading.Source.API):  # type: ignore[no-untyped-def]
    return readings_record(list(rows), source=source)


def one(serial: str = "SN-100", value: object = "110", read_at: str | None = None, **extra: object) -> dict:
    return {"meter": serial, "value": value, "read_at": read_at or at("2025-02-01"), **extra}


def errors_of(result) -> dict:  # type: ignore[no-untyped-def]
    assert len(result.errors) == 1, result.errors
    return result.errors[0]["errors"]


def test_consumption_is_the_difference_from_the_previous_accepted_reading(meter) -> None:  # type: ignore[no-untyped-def]
    first = record(one(value="110.500"))
    assert first.created[0].consumption == Decimal("10.500") and first.created[0].status == "accepted"
    second = record(one(value="118", read_at=at("2025-03-01")))
    assert second.created[0].consumption == Decimal("7.500")


@pytest.mark.parametrize(("value", "message"), [
    ("abc", v.MSG_NOT_A_NUMBER), ("", v.MSG_NOT_A_NUMBER), ("-1", v.MSG_NEGATIVE), ("1.2345", v.MSG_TOO_PRECISE),
    ("NaN", v.MSG_NOT_A_NUMBER),
])
def test_values_that_are_not_readings(meter, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    assert errors_of(record(one(value=value)))["value"] == [message]


def test_future_and_malformed_times(meter) -> None:  # type: ignore[no-untyped-def]
    tomorrow = (datetime.now(NBO) + timedelta(days=1)).isoformat()
    assert errors_of(record(one(read_at=tomorrow)))["read_at"] == [v.MSG_FUTURE]
    assert errors_of(record(one(read_at="31/10/2025")))["read_at"] == [v.MSG_BAD_TIME]
    assert errors_of(record(one(read_at="2024-12-01")))["read_at"] == [v.MSG_BEFORE_INSTALL.format(installed="2025-01-01")]


def test_unknown_and_inactive_meters(meter) -> None:  # type: ignore[no-untyped-def]
    assert errors_of(record(one(serial="NOPE")))["meter"] == [v.MSG_UNKNOWN_METER.format(serial="NOPE")]
    Meter.objects.filter(pk=meter.pk).update(status="inactive")
    assert errors_of(record(one()))["meter"] == [v.MSG_INACTIVE_METER.format(serial="SN-100", status="inactive")]


def test_lower_than_the_previous_reading_needs_a_reason(meter) -> None:  # type: ignore[no-untyped-def]
    record(one(value="4000", read_at=at("2025-02-01")), one(value="8000", read_at=at("2025-02-15")),
           one(value="9990", read_at=at("2025-03-01")))
    message = errors_of(record(one(value="5", read_at=at("2025-04-01"))))["value"][0]
    assert message.startswith("5.000 is lower than the previous reading (9990.000 on 01 Mar 2025 09:00)")
    rolled = record(one(value="5", read_at=at("2025-04-01"), reason="rollover"))
    assert rolled.created[0].consumption == Decimal("15.000")  # 9990 → 9999.999 → 0 → 5


def test_replacement_counts_from_zero(meter) -> None:  # type: ignore[no-untyped-def]
    record(one(value="300", read_at=at("2025-02-01")))
    replaced = record(one(value="4", read_at=at("2025-03-01"), reason="replacement"))
    assert replaced.created[0].consumption == Decimal("4.000")


def test_out_of_order_arrival(meter) -> None:  # type: ignore[no-untyped-def]
    record(one(value="150", read_at=at("2025-04-01")))
    too_high = errors_of(record(one(value="160", read_at=at("2025-03-01"))))["value"][0]
    assert too_high.startswith("160.000 is higher than a later reading already stored (150.000 on 01 Apr 2025")
    fits = record(one(value="120", read_at=at("2025-03-01")))
    assert fits.created[0].consumption == Decimal("20.000")
    later = Reading.objects.get(meter=meter, value=Decimal("150"))
    assert later.consumption == Decimal("30.000")  # recomputed against the newly arrived reading


def test_same_meter_and_time_is_idempotent_or_a_conflict(meter) -> None:  # type: ignore[no-untyped-def]
    first = record(one(value="110"))
    again = record(one(value="110"))
    assert again.created == [] and again.errors == [] and again.repeats[0].id == first.created[0].id
    conflict = errors_of(record(one(value="111")))
    assert conflict["value"] == [v.MSG_CONFLICT.format(serial="SN-100", existing=Decimal("110.000"))]
    assert Reading.objects.filter(meter=meter).count() == 1


def test_high_consumption_is_flagged_and_waits_for_review(meter) -> None:  # type: ignore[no-untyped-def]
    for month, value in ((2, "110"), (3, "120"), (4, "130")):  # ~10 m³ a month
        record(one(value=value, read_at=at(f"2025-0{month}-01")))
    spike = record(one(value="230", read_at=at("2025-05-01"))).created[0]
    assert spike.status == "flagged" and spike.flags == [Reading.Flag.HIGH]
    normal = record(one(value="240", read_at=at("2025-06-01"))).created[0]
    # Billing only uses accepted readings: the flagged one is skipped as "previous".
    assert normal.consumption == Decimal("110.000") and normal.status == "flagged"
    reading_review(reading=Reading.objects.get(pk=spike.id), accept=True, actor="reviewer")
    assert Reading.objects.get(pk=normal.id).consumption == Decimal("10.000")


def test_three_zero_periods_in_a_row_are_flagged(meter) -> None:  # type: ignore[no-untyped-def]
    statuses = [record(one(value="100", read_at=at(f"2025-0{m}-01"))).created[0] for m in (2, 3, 4)]
    assert [s.flags for s in statuses] == [[], [], [Reading.Flag.ZERO]]


def test_a_reading_far_outside_the_dial_is_flagged(meter) -> None:  # type: ignore[no-untyped-def]
    beyond = record(one(value="12000")).created[0]
    assert Reading.Flag.DIAL in beyond.flags and beyond.status == "flagged"


def test_portal_readings_wait_for_review(meter) -> None:  # type: ignore[no-untyped-def]
    created = record(one(value="111"), source=Reading.Source.PORTAL).created[0]
    assert created.status == "flagged" and created.flags == [Reading.Flag.CLIENT]


def test_a_batch_keeps_valid_rows_and_reports_every_bad_one(meter) -> None:  # type: ignore[no-untyped-def]
    result = record(
        one(value="110", read_at=at("2025-02-01")),
        one(value="oops", read_at=at("2025-03-01")),
        one(value="130", read_at=at("2025-04-01")),
        one(serial="GHOST"),
        one(value="125", read_at=at("2025-03-15")),  # same meter, between the two good ones
    )
    assert [c.index for c in result.created] == [0, 2, 4]
    assert [e["index"] for e in result.errors] == [1, 3]
    values = dict(Reading.objects.filter(meter=meter).values_list("value", "consumption"))
    assert values == {Decimal("110.000"): Decimal("10.000"), Decimal("125.000"): Decimal("15.000"),
                      Decimal("130.000"): Decimal("5.000")}


def test_recompute_agrees_with_recording(meter) -> None:  # type: ignore[no-untyped-def]
    record(one(value="110", read_at=at("2025-02-01")), one(value="9995", read_at=at("2025-03-01")),
           one(value="3", read_at=at("2025-04-01"), reason="rollover"))
    before = dict(Reading.objects.values_list("id", "consumption"))
    consumption_recompute([meter.pk], datetime(2000, 1, 1, tzinfo=NBO))
    assert dict(Reading.objects.values_list("id", "consumption")) == before


def test_meter_replacement_continues_consumption(meter) -> None:  # type: ignore[no-untyped-def]
    record(one(value="150", read_at=at("2025-02-01")))
    new = meter_replace(actor="test", meter=meter, final_reading=Decimal("158.5"),
                        replaced_at=datetime(2025, 2, 20, 10, tzinfo=NBO), new_serial="sn-200",
                        new_initial_reading=Decimal("0"))
    old = Meter.objects.get(pk=meter.pk)
    assert old.status == "replaced" and old.replaced_by == new and old.final_reading == Decimal("158.500")
    assert Reading.objects.get(meter=old, value=Decimal("158.5")).consumption == Decimal("8.500")
    after = record(one(serial="SN-200", value="12", read_at=at("2025-03-01"))).created[0]
    assert after.consumption == Decimal("12.000")
    assert errors_of(record(one(value="170", read_at=at("2025-03-01"))))["meter"][0].startswith("Meter SN-100 is replaced")


def test_the_readings_api(alpha_api, meter) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    created = alpha_api.post("/api/v1/readings/", one(value="110.250"), format="json")
    assert created.status_code == 201
    assert created.json() | {"id": 0} == {"id": 0, "meter": "SN-100", "value": "110.250",
                                          "read_at": "2025-02-01T06:00:00+00:00", "consumption": "10.250",
                                          "status": "accepted", "flags": []}
    retry = alpha_api.post("/api/v1/readings/", one(value="110.250"), format="json")
    assert retry.status_code == 200 and retry.json()["id"] == created.json()["id"]
    lower = alpha_api.post("/api/v1/readings/", one(value="100", read_at=at("2025-03-01")), format="json")
    assert lower.status_code == 400 and "lower than the previous reading" in lower.json()["value"][0]
    bulk = alpha_api.post("/api/v1/readings/bulk/", [one(value="120", read_at=at("2025-03-01")), "junk",
                                                     one(value="x", read_at=at("2025-04-01"))], format="json")
    assert bulk.status_code == 200
    assert bulk.json() == {"created": 1, "unchanged": 0, "errors": [
        {"index": 1, "errors": {"detail": ["Each reading must be a JSON object."]}},
        {"index": 2, "errors": {"value": [v.MSG_NOT_A_NUMBER]}}]}


def test_another_provider_cannot_read_into_alphas_meter(beta_api, meter) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    response = beta_api.post("/api/v1/readings/", one(), format="json")
    assert response.status_code == 400 and response.json()["meter"] == [v.MSG_UNKNOWN_METER.format(serial="SN-100")]
    assert beta_api.get(f"/api/v1/meters/{meter.pk}/").status_code == 404


def test_accepting_a_review_that_contradicts_accepted_neighbours_is_refused(meter) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import ValidationError

    record(one(value="130", read_at=at("2025-05-01")))
    waiting = record(one(value="145", read_at=at("2025-06-01")), source=Reading.Source.PORTAL).created[0]
    staff = record(one(value="140", read_at=at("2025-06-03"))).created[0]
    # The client's reading waiting for review does not block the staff reading: 10 m³ since May.
    assert staff.status == "accepted" and staff.consumption == Decimal("10.000")
    with pytest.raises(ValidationError) as err:
        reading_review(reading=Reading.objects.get(pk=waiting.id), accept=True, actor="manager")
    assert "higher than an accepted reading after it (140.000" in err.value.messages[0]
    assert Reading.objects.get(pk=waiting.id).status == "flagged"
    assert Reading.objects.get(pk=staff.id).consumption == Decimal("10.000")


def test_decimal_commas_are_refused_and_thousands_commas_accepted(meter) -> None:  # type: ignore[no-untyped-def]
    assert errors_of(record(one(value="12,5")))["value"] == [v.MSG_DECIMAL_COMMA]
    grouped = record(one(value="1,234.5")).created[0]
    assert Reading.objects.get(pk=grouped.id).value == Decimal("1234.500")


def test_an_impossible_utc_offset_is_a_clear_error_not_a_crash(meter) -> None:  # type: ignore[no-untyped-def]
    result = record(one(value="110", read_at="2025-02-01T08:00:00+16:00"),
                    one(value="111", read_at=at("2025-02-02")))
    assert [c.index for c in result.created] == [1]
    assert result.errors == [{"index": 0, "errors": {"read_at": [v.MSG_BAD_TIME]}}]


def test_times_without_a_zone_are_nairobi_time(meter) -> None:  # type: ignore[no-untyped-def]

    date_only = record(one(value="110", read_at="2025-02-01")).created[0]
    naive = record(one(value="111", read_at="2025-02-02 08:30")).created[0]
    stored = {r.id: r.read_at.astimezone(UTC) for r in Reading.objects.all()}
    assert stored[date_only.id].isoformat() == "2025-01-31T21:00:00+00:00"
    assert stored[naive.id].isoformat() == "2025-02-02T05:30:00+00:00"


def test_bulk_reports_every_bad_row(alpha_api, meter) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    rows = [one(value="x", read_at=at("2025-02-01")) for _ in range(1500)]
    body = alpha_api.post("/api/v1/readings/bulk/", rows, format="json").json()
    assert body["created"] == 0 and len(body["errors"]) == 1500


def test_a_rejected_reading_gives_its_slot_to_the_corrected_one(meter) -> None:  # type: ignore[no-untyped-def]
    typo = record(one(value="110"), source=Reading.Source.PORTAL).created[0]
    reading_review(reading=Reading.objects.get(pk=typo.id), accept=False, actor="manager")
    corrected = record(one(value="108"))  # same meter, same time
    assert corrected.errors == [] and corrected.created[0].status == "accepted"
    stored = Reading.objects.get(meter=meter)
    assert (stored.value, stored.status, stored.consumption) == (Decimal("108.000"), "accepted", Decimal("8.000"))


def test_a_late_reading_for_a_replaced_meter_is_still_taken(meter) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    record(one(value="150", read_at=at("2025-02-01")))
    meter_replace(actor="t", meter=meter, final_reading=Decimal("170"), replaced_at=datetime(2025, 3, 20, 10, tzinfo=NBO),
                  new_serial="SN-300")
    late = record(one(value="160", read_at=at("2025-03-01")))  # read before the replacement, arrived after
    assert late.errors == [] and late.created[0].consumption == Decimal("10.000")
    assert Reading.objects.get(meter=meter, value=Decimal("170")).consumption == Decimal("10.000")
    after = errors_of(record(one(value="175", read_at=at("2025-03-25"))))
    assert after["meter"][0].startswith("Meter SN-100 is replaced")


def test_abandoned_previews_are_purged_after_a_day(alpha) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from majismart import uploads
    from meters.tasks import purge_stale_uploads

    with tenant_context(alpha):
        old = uploads.keep(ContentFile(b"full_name,national_id\nX,12345678\n", name="c.csv"), "clients")
        fresh = uploads.keep(ContentFile(b"meter,value,read_at\n", name="r.csv"), "readings")
        old_path = default_storage.path(f"imports/clients-{old}.csv")
        assert "/alpha/" in old_path  # kept in the provider's own storage
        two_days_ago = time.time() - 48 * 3600
        os.utime(old_path, (two_days_ago, two_days_ago))
        assert purge_stale_uploads.delay().get() == 1
        assert uploads.open_kept(old, "clients") is None and uploads.open_kept(fresh, "readings") is not None
        uploads.discard(fresh, "readings")
