"""Every list of the API downloads with `?format=csv|xlsx` (majismart.api.paginated): every row the
filters match (never just a page, whatever `page_size` says), the JSON results' fields as its
columns in their order, money as plain numbers, times in Nairobi, the same credentials as the
JSON list and only the caller's provider's rows.

The rows come from a provider of its own with the demo's year lived (web.demo: 8 clients, a
year of runs, invoices, payments, messages, arrears and field work), made once for the module."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Role
from accounts.services import api_key_create
from tests.billing_helpers import metered, own_provider, travel
from tests.conftest import API_KEYS, api_client

API = "/api/v1/"
# Each list, and a filter its JSON list takes (None: it takes none).
LISTS: list[tuple[str, str | None]] = [
    ("staff/", None),
    ("clients/", "zone=north"),
    ("meters/", None),
    ("tariffs/", None),
    ("billing-runs/", None),
    ("invoices/", "status=paid"),
    ("credit-notes/", None),
    ("payments/", None),
    ("messages/", "event=payment_received"),
    ("fees/", None),
    ("service-requests/", "status=open"),
    ("work-orders/", "kind=service"),
    ("payment-plans/", None),
    ("disconnections/", None),
    ("disconnections/candidates/", None),
]
URLS = [url for url, _ in LISTS]


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """A provider with the demo's year, three credit notes and an owner's API key (`shop.key`)."""
    from billing.models import Invoice
    from billing.services import credit_note_create
    from web import demo

    with own_provider(django_db_blocker, "exp") as made:
        with django_db_blocker.unblock(), tenant_context(made):
            demo.seed_provider(made.slug, clients=8)
            for invoice in Invoice.objects.filter(status="issued").order_by("-period", "number")[:3]:
                credit_note_create(invoice=invoice, amount="10.00", reason="Leak allowance", actor="test")
            more_of_the_short_lists()
            made.key = api_key_create(name="exports", role=Role.OWNER)[1]
        connection.set_schema_to_public()
        yield made


def later() -> str:
    """Three months on from today: the demo's last bills are overdue by then."""
    return (timezone.localdate() + timedelta(days=90)).isoformat()


def more_of_the_short_lists() -> None:
    """The demo's year leaves two of each of some lists and no candidate for disconnection:
    three months on, a rule that takes anyone owing anything overdue (two), one more notice, three
    more service requests and orders, one more payment plan."""
    from arrears.models import ArrearsSettings, Disconnection
    from arrears.services import plan_create
    from billing.services import adjustment_post
    from clients.models import Client
    from fieldwork.models import WorkOrder
    from fieldwork.services import service_request_create, work_order_open

    Client.objects.update(disconnection_exempt=False)  # the school owes too
    cfg = ArrearsSettings.load()
    cfg.disconnect_after_days, cfg.disconnect_above = 0, Decimal("0.00")
    cfg.save()
    plan_client, _meter = metered("Plan Client")
    adjustment_post(client=plan_client, amount="900.00", reason="Arrears", actor="test")
    Disconnection.objects.create(client=plan_client, notice_date=timezone.localdate(), balance=Decimal("900.00"))
    for client in Client.objects.order_by("account_number")[:3]:
        request = service_request_create(client=client, kind="leak", description="=Leak at the gate", actor="test",
                                         channel="phone")
        work_order_open(client=client, kind=WorkOrder.Kind.SERVICE, due_on=timezone.localdate(),
                        instructions="Check the meter seal", service_request_id=request.pk)
    plan_create(client=plan_client, instalments=3, first_due=timezone.localdate() + timedelta(days=7), actor="test")


def json_rows(http: Any, url: str) -> list[dict[str, Any]]:
    """Every JSON result of a list, one a page."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        sep = "&" if "?" in url else "?"
        body = http.get(f"{url}{sep}page_size=1&page={page}").json()
        rows += body["results"]
        if not body["next"]:
            return rows
        page += 1


def as_cell(value: Any) -> str:
    """A JSON value as the CSV writes it: Nairobi `YYYY-MM-DD HH:MM` for a time, JSON text for a
    nested list or object, yes/no, empty for null, `'` before a formula-like text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and "T" in value and value[:4].isdigit() and len(value) >= 19:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    text = str(value)
    if (text.startswith(("=", "+", "-", "@")) and not text.lstrip("-").replace(".", "", 1).isdigit()
            and not re.fullmatch(r"\+\d{6,15}", text)):
        return "'" + text  # a formula-like text (a negative amount is a number, +254... a phone number)
    return text


def read_csv(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def read_xlsx(response: Any) -> list[list[Any]]:
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def same(cell: Any, text: str) -> str:
    """An XLSX cell as the CSV line has it, where it holds the same value (a number there is a
    number here: 1234.5 for "1234.50"; a time is Nairobi's already; text is not quoted)."""
    if cell is None:
        return ""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return text if float(text) == cell else repr(cell)
    if isinstance(cell, datetime):
        shown = cell.strftime("%Y-%m-%d %H:%M") if len(text) > 10 else cell.strftime("%Y-%m-%d")
        return shown
    return "'" + cell if text == "'" + cell else str(cell)


@pytest.mark.parametrize(("url", "query"), LISTS, ids=URLS)
def test_a_download_holds_every_row_of_the_json_list_with_its_filter(db, shop, url: str, query: str | None) -> None:
    with travel(later()):  # the candidates are three months on
        _a_download_holds_every_row(shop, url, query)


def _a_download_holds_every_row(shop: Any, url: str, query: str | None) -> None:
    http = api_client(shop.slug, shop.key)
    full = API + url + (f"?{query}" if query else "")
    rows = json_rows(http, full)
    assert len(rows) > 1, f"{url}: the demo should give more than one page of one"
    if query:  # the filter narrows the list
        assert len(rows) < len(json_rows(http, API + url))
    sep = "&" if query else "?"
    response = http.get(f"{full}{sep}format=csv&page_size=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    name = url.strip("/").replace("/", "-").replace("disconnections-candidates", "disconnection-candidates")
    assert response["Content-Disposition"].startswith(f'attachment; filename="{name}-')
    table = read_csv(response)
    keys = list(rows[0])
    assert table[0] == keys
    assert table[1:] == [[as_cell(row[k]) for k in keys] for row in rows]

    response = http.get(f"{full}{sep}format=xlsx&page_size=1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = read_xlsx(response)
    assert sheet[0] == keys
    assert [[same(cell, text) for cell, text in zip(line, csv_line, strict=True)] for line, csv_line in
            zip(sheet[1:], table[1:], strict=True)] == [line for line in table[1:]]


def test_money_is_a_plain_number_and_times_are_nairobi_s(db, shop) -> None:
    from payments.models import Payment

    http = api_client(shop.slug, shop.key)
    table = read_csv(http.get(API + "payments/?format=csv"))
    header = table[0]
    with tenant_context(shop):
        first = Payment.objects.order_by("-paid_at", "-id").first()
        assert first is not None
        line = dict(zip(header, table[1], strict=True))
        assert line["amount"] == f"{first.amount:.2f}"  # "1234.50": no grouping, no currency
        assert line["paid_at"] == timezone.localtime(first.paid_at).strftime("%Y-%m-%d %H:%M")
    connection.set_schema_to_public()


@pytest.mark.parametrize("url", URLS)
def test_a_download_asks_for_the_same_credentials_as_the_list(db, shop, url: str) -> None:
    assert api_client(shop.slug).get(API + url + "?format=csv").status_code == 401
    assert api_client(shop.slug, API_KEYS["beta"]).get(API + url + "?format=csv").status_code == 401


@pytest.mark.parametrize("url", ["clients/", "invoices/", "payments/", "meters/"])
def test_another_provider_s_key_downloads_only_its_own_rows(beta, shop, url: str) -> None:
    table = read_csv(api_client("beta", API_KEYS["beta"]).get(API + url + "?format=csv"))
    assert len(table) == 1  # beta has none: the header alone, none of the shop's rows


def test_a_role_without_the_list_s_capability_is_refused_the_download_too(db, shop) -> None:
    with tenant_context(shop):
        reader = api_key_create(name="reader", role=Role.METER_READER)[1]
    connection.set_schema_to_public()
    http = api_client(shop.slug, reader)
    assert http.get(API + "invoices/").status_code == 403
    assert http.get(API + "invoices/?format=csv").status_code == 403


def test_a_formula_like_text_starts_with_a_quote_and_the_export_is_audited(tenant, alpha_api) -> None:
    from accounts.models import AuditEvent

    metered("=HYPERLINK(\"http://x\")")
    table = read_csv(alpha_api.get(API + "clients/?format=csv&search=hyperlink"))
    assert table[1][table[0].index("full_name")] == "'=HYPERLINK(\"http://x\")"
    event = AuditEvent.objects.filter(action="clients.exported").get()
    assert (event.category, event.object_repr) == ("export", "1 clients exported")
    assert event.extra_data == {"format": "csv", "filtered": True}
    assert "national_id" in table[0]  # the key acts as a manager, who may see identities
    reader = api_client("alpha", api_key_create(name="reader", role=Role.METER_READER)[1])
    table = read_csv(reader.get(API + "clients/?format=csv&search=hyperlink"))
    assert "national_id" not in table[0] and len(table) == 2  # a meter reader may not: no column at all


def test_the_schema_documents_the_download_on_every_list(db, shop) -> None:
    schema = api_client(shop.slug, shop.key).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for url in URLS:
        get = schema["paths"][f"/api/v1/{url}"]["get"]
        formats = [p for p in get["parameters"] if p["name"] == "format"]
        assert formats and formats[0]["schema"]["enum"] == ["csv", "xlsx"], url
        assert set(get["responses"]["200"]["content"]) == {
            "application/json", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
