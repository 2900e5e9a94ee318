"""Dashboard and portal pages of the register: clients, meters, the route sheet, review, CSV."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import tenant_context

from clients.models import Category, Client, Zone
from clients.selectors import client_search
from meters.models import Meter, Reading
from meters.services import meter_create, readings_record
from tests.conftest import ALPHA_PEOPLE, login


def as_(persona: str, host: str = "alpha.majismart.localhost") -> Http:
    http = Http(HTTP_HOST=host)
    login(http, ALPHA_PEOPLE[persona].email if persona in ALPHA_PEOPLE else persona)
    return http


@pytest.fixture
def route(alpha):  # type: ignore[no-untyped-def]
    """Zone 'north' with three clients, one meter each; carol (client persona) owns the first."""
    with tenant_context(alpha):
        from accounts.models import User

        zone = Zone.objects.create(code="north", name="North route")
        domestic = Category.objects.get(code="domestic")
        clients = [Client.objects.create(account_number=f"N{i}", full_name=f"North Client {i}", zone=zone,
                                         category=domestic, national_id=f"2000000{i}", phone=f"+25471200000{i}")
                   for i in range(1, 4)]
        clients[0].user = User.objects.get(email="carol@alpha.test")
        clients[0].save(update_fields=["user"])
        meters = [meter_create(actor="t", serial=f"NM-{i}", client=c, installed_on=date(2025, 1, 1),
                               initial_reading=Decimal("10")) for i, c in enumerate(clients, start=1)]
        readings_record([{"meter": m.serial, "value": "20", "read_at": "2025-06-01"} for m in meters], source="manual")
    connection.set_schema_to_public()
    return {"zone": zone, "clients": clients, "meters": meters}


def test_client_list_searches_filters_and_pages(route, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    http = as_("amos")
    assert "North Client 2" in http.get("/dashboard/clients/?q=north+client+2").content.decode()
    by_phone = http.get("/dashboard/clients/?q=0712000003").content.decode()
    assert "North Client 3" in by_phone and "North Client 1" not in by_phone
    assert "N1" in http.get("/dashboard/clients/?zone=north&status=active").content.decode()
    assert "No clients match" in http.get("/dashboard/clients/?status=closed").content.decode()
    with django_assert_num_queries(9):
        page = http.get("/dashboard/clients/")
    assert page.status_code == 200


def test_clients_are_created_and_edited_with_field_errors(route) -> None:  # type: ignore[no-untyped-def]
    http = as_("amos")
    bad = http.post("/dashboard/clients/new/", {"full_name": "", "phone": "123", "category": "domestic",
                                                 "status": "active", "opening_balance": "x"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "This field is required." in html and "Enter a valid Kenyan phone number" in html
    good = http.post("/dashboard/clients/new/", {"full_name": "Mary Atieno", "phone": "0722 111 222", "category": "kiosk",
                                                  "zone": "north", "status": "active", "opening_balance": "350"})
    assert good.status_code == 302
    with tenant_context(_alpha()):
        client = client_search(query="Mary Atieno").get()  # names are encrypted: found by their words
        assert client.opening_balance == Decimal("350.00") and client.phone == "+254722111222"
    connection.set_schema_to_public()
    edit = http.post(f"/dashboard/clients/{client.pk}/edit/", {"full_name": "Mary A. Atieno", "category": "kiosk",
                                                               "status": "disconnected", "phone": "0722 111 222"})
    assert edit.status_code == 302
    assert "Mary A. Atieno" in http.get(f"/dashboard/clients/{client.pk}/").content.decode()


def test_a_client_is_marked_exempt_from_disconnection_on_its_edit_page(route) -> None:  # type: ignore[no-untyped-def]
    client = route["clients"][1]
    http = as_("amos")
    form = {"full_name": "North Client 2", "category": "domestic", "status": "active", "phone": "+254712000002"}
    assert "Exempt from disconnection" in http.get(f"/dashboard/clients/{client.pk}/edit/").content.decode()
    assert http.post(f"/dashboard/clients/{client.pk}/edit/", {**form, "disconnection_exempt": "on"}).status_code == 302
    with tenant_context(_alpha()):
        assert Client.objects.get(pk=client.pk).disconnection_exempt
    connection.set_schema_to_public()
    assert 'data-testid="client-exempt"' in http.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert http.post(f"/dashboard/clients/{client.pk}/edit/", form).status_code == 302  # unticked: no longer
    with tenant_context(_alpha()):
        assert not Client.objects.get(pk=client.pk).disconnection_exempt
    connection.set_schema_to_public()


def _alpha():  # type: ignore[no-untyped-def]
    from tenants.models import Provider

    return Provider.objects.get(slug="alpha")


def test_a_meter_reader_sees_no_national_id_and_cannot_edit(route) -> None:  # type: ignore[no-untyped-def]
    client = route["clients"][0]
    reader = as_("ari")
    page = reader.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert "North Client 1" in page and "20000001" not in page and "National ID" not in page
    assert reader.get(f"/dashboard/clients/{client.pk}/edit/").status_code == 403
    assert reader.get("/dashboard/clients/new/").status_code == 403
    accountant = as_("anne")
    assert "20000001" in accountant.get(f"/dashboard/clients/{client.pk}/").content.decode()
    assert accountant.post("/dashboard/clients/new/", {"full_name": "X", "category": "domestic"}).status_code == 403


def test_client_page_shows_meters_history_and_a_chart(route) -> None:  # type: ignore[no-untyped-def]
    page = as_("amos").get(f"/dashboard/clients/{route['clients'][0].pk}/").content.decode()
    assert "NM-1" in page and "<svg" in page and "Reading history" in page


def test_another_providers_pages_404(route, beta) -> None:  # type: ignore[no-untyped-def]
    bob = Http(HTTP_HOST="beta.majismart.localhost")
    login(bob, "bob@beta.test")
    pk = route["clients"][2].pk
    assert bob.get(f"/dashboard/clients/{pk}/").status_code == 404
    assert bob.get(f"/dashboard/clients/{pk}/edit/").status_code == 404
    assert bob.get(f"/dashboard/meters/{route['meters'][2].pk}/replace/").status_code == 404
    assert "North Client" not in bob.get("/dashboard/clients/").content.decode()


def test_the_route_sheet_saves_readings_and_shows_errors_in_place(route) -> None:  # type: ignore[no-untyped-def]
    reader = as_("ari")
    sheet = reader.get("/dashboard/readings/?zone=north").content.decode()
    assert sheet.index("North Client 1") < sheet.index("North Client 2") < sheet.index("North Client 3")
    m1, m2, m3 = route["meters"]
    response = reader.post("/dashboard/readings/?zone=north", {f"v-{m1.pk}": "25.5", f"v-{m2.pk}": "5", f"v-{m3.pk}": ""})
    html = response.content.decode()
    assert response.status_code == 200 and "Saved 1 reading; 1 need correcting." in html
    assert "lower than the previous reading" in html
    with tenant_context(_alpha()):
        assert Reading.objects.filter(meter=m1, value=Decimal("25.5"), recorded_by__email="ari@alpha.test").exists()
        assert not Reading.objects.filter(meter=m2, value=Decimal("5")).exists()


def test_flagged_readings_are_reviewed(route) -> None:  # type: ignore[no-untyped-def]
    m1 = route["meters"][0]
    with tenant_context(_alpha()):
        flagged = readings_record([{"meter": m1.serial, "value": "30", "read_at": "2025-07-01"}],
                                  source=Reading.Source.PORTAL).created[0]
    connection.set_schema_to_public()
    manager = as_("amos")
    assert "NM-1" in manager.get("/dashboard/readings/review/").content.decode()
    assert as_("ari").get("/dashboard/readings/review/").status_code == 403
    assert manager.post(f"/dashboard/readings/review/{flagged.id}/", {"decision": "accept"}).status_code == 302
    with tenant_context(_alpha()):
        assert Reading.objects.get(pk=flagged.id).status == "accepted"


def test_readings_csv_preview_then_import(route, beta, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    csv_text = ("meter,value,read_at\nNM-1,40,2025-08-01\nNM-2,abc,2025-08-01\nGHOST,1,2025-08-01\n"
                "nm-3,41.5,2025-08-01T09:00\n")
    http = as_("amos")
    preview = http.post("/dashboard/readings/upload/", {"file": SimpleUploadedFile("r.csv", csv_text.encode())})
    html = preview.content.decode()
    assert "<strong>2</strong> of 4 readings are valid" in html
    assert "Enter the meter&#x27;s value as a number" in html and "No meter with serial “GHOST”" in html
    with tenant_context(_alpha()):
        assert not Reading.objects.filter(value=Decimal("40")).exists()  # the preview wrote nothing
    connection.set_schema_to_public()
    token = preview.context["token"]
    with django_capture_on_commit_callbacks(execute=True):
        done = http.post("/dashboard/readings/upload/", {"token": token, "file_name": "r.csv"})
    assert done.status_code == 302 and "/dashboard/readings/upload/" in done.url
    job_page = http.get(done.url)
    assert "<strong>2</strong> readings imported" in job_page.content.decode()
    assert "<strong>2</strong> rows skipped" in job_page.content.decode()
    state = http.get(done.url + "?format=json").json()
    assert state["status"] == "done" and state["percent"] == 100 and state["summary"]["created"] == 2
    assert [e["line"] for e in state["summary"]["errors"]] == [3, 4]
    bob = Http(HTTP_HOST="beta.majismart.localhost")
    login(bob, "bob@beta.test")
    assert bob.get(done.url).status_code == 404
    with tenant_context(_alpha()):
        assert set(Reading.objects.filter(read_at__date=date(2025, 8, 1)).values_list("meter__serial", flat=True)) == {"NM-1", "NM-3"}


def test_clients_csv_preview_then_import_keeps_valid_rows(route) -> None:  # type: ignore[no-untyped-def]
    csv_text = ("full_name,phone,category,zone,opening_balance,account_number\n"
                "Good One,0711 000 001,domestic,north,1200.50,\n"
                "Jos\xe9 Wanjiru,,domestic,,,\n"
                "Bad Phone,12,domestic,,0,\n"
                "Good Two,,commercial,,,GT-77\n"
                "Taken,,domestic,,,N1\n"
                "Dup,,domestic,,,GT-77\n")
    http = as_("amos")
    # Saved from a Windows spreadsheet: Windows-1252, not UTF-8.
    preview = http.post("/dashboard/clients/import/", {"file": SimpleUploadedFile("c.csv", csv_text.encode("cp1252"))})
    summary = preview.context["summary"]
    assert (summary.rows, summary.valid, summary.error_count) == (6, 3, 3)
    assert [e["line"] for e in summary.errors] == [4, 6, 7]
    assert summary.opening_balance_total == Decimal("1200.50")
    assert http.post("/dashboard/clients/import/", {"token": preview.context["token"]}).status_code == 302
    with tenant_context(_alpha()):
        one = client_search(query="Good One").get()
        assert one.account_number.startswith("ACC") and one.phone == "+254711000001" and one.zone.code == "north"
        assert Client.objects.get(account_number="GT-77").category.code == "commercial"
        names = {c.full_name for c in Client.objects.all()}
        assert not names & {"Bad Phone", "Taken", "Dup"}
        assert "José Wanjiru" in names and client_search(query="josé").exists()


def test_meter_replacement_page(route) -> None:  # type: ignore[no-untyped-def]
    m3 = route["meters"][2]
    http = as_("amos")
    low = http.post(f"/dashboard/meters/{m3.pk}/replace/", {"final_reading": "15", "replaced_at": "2025-09-01T10:00",
                                                             "new_serial": "NM-3B", "new_initial_reading": "0"})
    assert low.status_code == 400 and "lower than the previous reading" in low.content.decode()
    ok = http.post(f"/dashboard/meters/{m3.pk}/replace/", {"final_reading": "27", "replaced_at": "2025-09-01T10:00",
                                                            "new_serial": "NM-3B", "new_initial_reading": "0"})
    assert ok.status_code == 302
    with tenant_context(_alpha()):
        assert Meter.objects.get(pk=m3.pk).replaced_by.serial == "NM-3B"


def test_the_portal_shows_usage_and_takes_a_self_reading_with_photo(route) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(_alpha()):
        recent = (timezone.now() - timedelta(days=10)).isoformat()
        readings_record([{"meter": "NM-1", "value": "21", "read_at": recent}], source="manual")
    connection.set_schema_to_public()
    carol = as_("carol")
    usage = carol.get("/portal/usage/").content.decode()
    assert "NM-1" in usage and "NM-2" not in usage and "<svg" in usage
    photo = SimpleUploadedFile("dial.jpg", b"\xff\xd8\xff\xe0fakejpeg", content_type="image/jpeg")
    sent = carol.post("/portal/reading/", {"meter": route["meters"][0].pk, "value": "22.125", "photo": photo})
    assert sent.status_code == 302, sent.content.decode()[-3000:]
    assert sent.status_code == 302
    with tenant_context(_alpha()):
        reading = Reading.objects.get(meter=route["meters"][0], value=Decimal("22.125"))
        assert reading.status == "flagged" and reading.flags == ["client_submitted"] and reading.photo
        assert reading.photo.name.startswith("readings/")
    connection.set_schema_to_public()
    other = carol.post("/portal/reading/", {"meter": route["meters"][1].pk, "value": "30"})
    assert other.status_code == 400  # not her meter
    staff_photo = as_("amos").get(f"/dashboard/readings/{reading.pk}/photo/")
    assert staff_photo.status_code == 200 and b"fakejpeg" in b"".join(staff_photo.streaming_content)
    assert staff_photo["Content-Type"] == "image/jpeg" and "sandbox" in staff_photo["Content-Security-Policy"]
    assert as_("ari").get(f"/dashboard/readings/{reading.pk}/photo/").status_code == 403
    # A page dressed up as a photo is refused, whatever the browser claims.
    disguised = SimpleUploadedFile("dial.html", b"<script>alert(1)</script>", content_type="image/jpeg")
    refused = carol.post("/portal/reading/", {"meter": route["meters"][0].pk, "value": "23", "photo": disguised})
    assert refused.status_code == 400 and b"must be a JPEG, PNG or WebP image" in refused.content
    assert carol.get(f"/dashboard/readings/{reading.pk}/photo/").status_code == 403


def test_categories_and_zones_are_the_providers_own(route) -> None:  # type: ignore[no-untyped-def]
    http = as_("amos")
    assert http.post("/dashboard/clients/settings/", {"cat-code": "school", "cat-name": "Schools"}).status_code == 302
    assert http.post("/dashboard/clients/settings/", {"zone-code": "south", "zone-name": "South"}).status_code == 302
    with tenant_context(_alpha()):
        assert Category.objects.filter(code="school").exists() and Zone.objects.filter(code="south").exists()
    with tenant_context(__import__("tenants.models", fromlist=["Provider"]).Provider.objects.get(slug="beta")):
        assert not Category.objects.filter(code="school").exists()
    assert as_("anne").post("/dashboard/clients/settings/", {"zone-code": "x", "zone-name": "X"}).status_code == 403


def test_every_id_bearing_page_and_endpoint_is_404_for_another_provider(route, beta) -> None:  # type: ignore[no-untyped-def]
    from meters.models import ReadingImport

    m1 = route["meters"][0]
    with tenant_context(_alpha()):
        flagged = readings_record([{"meter": m1.serial, "value": "33", "read_at": "2025-07-01"}],
                                  source=Reading.Source.PORTAL).created[0].id
        job = ReadingImport.objects.create(token="0" * 32, total_rows=1)
    connection.set_schema_to_public()
    # Beta has no clients, meters, readings or imports of its own: anything but 404 would be alpha's.
    bob = Http(HTTP_HOST="beta.majismart.localhost")
    login(bob, "bob@beta.test")
    client_pk, meter_pk = route["clients"][0].pk, m1.pk
    gets = [f"/dashboard/clients/{client_pk}/", f"/dashboard/clients/{client_pk}/edit/",
            f"/dashboard/meters/{meter_pk}/replace/", f"/dashboard/readings/{flagged}/photo/",
            f"/dashboard/readings/upload/{job.pk}/", f"/api/v1/clients/{client_pk}/", f"/api/v1/meters/{meter_pk}/"]
    for url in gets:
        assert bob.get(url).status_code == 404, url
    assert bob.post(f"/dashboard/readings/review/{flagged}/", {"decision": "reject"}).status_code == 404
    assert bob.post(f"/dashboard/meters/{meter_pk}/replace/", {"final_reading": "40", "replaced_at": "2025-09-01T10:00",
                                                               "new_serial": "X", "new_initial_reading": "0"}).status_code == 404
    with tenant_context(_alpha()):
        assert Reading.objects.get(pk=flagged).status == "flagged"
        assert Meter.objects.get(pk=meter_pk).status == "active"


def test_an_unreadable_readings_file_gets_the_form_back_with_the_reason(route) -> None:  # type: ignore[no-untyped-def]
    from meters.imports import MSG_HEADER

    http = as_("amos")
    no_header = http.post("/dashboard/readings/upload/", {"file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n")})
    assert MSG_HEADER.encode() in no_header.content and "summary" not in no_header.context
    # A short line, an extra column, a Windows-1252 note: reported line by line, the rest kept.
    messy = (b"meter,value,read_at,note\nNM-1,40,2025-08-01,Jos\xe9's gate\nNM-2,41\n"
             b"NM-3,42,2025-08-01,ok,extra\n\nNM-2,43,2025-08-01,fine\n")
    preview = http.post("/dashboard/readings/upload/", {"file": SimpleUploadedFile("y.csv", messy)})
    summary = preview.context["summary"]
    assert (summary.created, summary.error_count) == (2, 2)
    assert [e["line"] for e in summary.errors] == [3, 4]
    assert summary.errors[0]["errors"] == {"detail": ["This line has 2 columns; the header has 4."]}
    with tenant_context(_alpha()):
        assert not Reading.objects.filter(value=Decimal("40")).exists()  # a preview writes nothing


def test_saving_the_route_sheet_twice_adds_nothing(route) -> None:  # type: ignore[no-untyped-def]
    reader = as_("ari")
    opened_at = reader.get("/dashboard/readings/?zone=north").context["opened_at"]
    m1 = route["meters"][0]
    for _ in range(2):  # a reload or a double tap posts the same sheet again
        reader.post("/dashboard/readings/?zone=north", {"opened_at": opened_at, f"v-{m1.pk}": "25.5"})
    with tenant_context(_alpha()):
        assert Reading.objects.filter(meter=m1, value=Decimal("25.5")).count() == 1


def test_the_api_cannot_edit_an_opening_balance(route, alpha_api) -> None:  # type: ignore[no-untyped-def]
    from clients.api import MSG_OPENING_BALANCE_FIXED

    pk = route["clients"][0].pk
    response = alpha_api.patch(f"/api/v1/clients/{pk}/", {"opening_balance": "99999"}, format="json")
    assert response.status_code == 400 and response.json() == {"opening_balance": [MSG_OPENING_BALANCE_FIXED]}


def test_confirming_an_import_twice_starts_one_job(route, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from meters.models import ReadingImport

    http = as_("amos")
    preview = http.post("/dashboard/readings/upload/",
                        {"file": SimpleUploadedFile("r.csv", b"meter,value,read_at\nNM-1,40,2025-08-01\n")})
    token = preview.context["token"]
    with django_capture_on_commit_callbacks(execute=True):
        first = http.post("/dashboard/readings/upload/", {"token": token})
    second = http.post("/dashboard/readings/upload/", {"token": token})
    assert first.status_code == 302 and second.status_code == 302
    with tenant_context(_alpha()):
        assert ReadingImport.objects.count() == 1
        assert Reading.objects.filter(value=Decimal("40")).count() == 1
