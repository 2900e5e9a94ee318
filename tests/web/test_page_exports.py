"""Every staff list page downloads as CSV and XLSX (`?export=csv|xlsx` on the list's own URL, the
"Download CSV / Excel" buttons of templates/includes/downloads.html): every row the page's filters
match (not one page), readable headings, the same capability as the page, and a number of
queries that does not grow with the rows.

The rows come from a provider with the demo's year lived (tests/majismart/test_list_exports.py's
`shop`); the query counts from alpha with 3 and then 30 rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.test import Client as Http
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.permissions import CAPABILITIES, view_access
from tests.billing_helpers import metered
from tests.conftest import ALPHA_PEOPLE, PASSWORD, host_of, login
from tests.majismart.test_list_exports import shop  # noqa: F401  # the module's provider with the demo's year


def _clients(q: dict[str, str]) -> list[str]:
    from clients.models import Client

    return list(Client.objects.filter(zone__code=q["zone"]).order_by("account_number")
                .values_list("account_number", flat=True))


def _invoices(q: dict[str, str]) -> list[str]:
    from billing.selectors import invoice_search

    return [i.number or "" for i in invoice_search(state=q["status"])]


def _credit_notes(q: dict[str, str]) -> list[str]:
    from billing.models import CreditNote

    return list(CreditNote.objects.order_by("-id").values_list("number", flat=True))


def _candidates(q: dict[str, str]) -> list[str]:
    from arrears.selectors import candidates

    return [c.account_number for c in candidates()]


def _disconnections(q: dict[str, str]) -> list[str]:
    from arrears.selectors import disconnections_list

    return [d.client.account_number for d in disconnections_list(status=q["status"])]


def _plans(q: dict[str, str]) -> list[str]:
    from arrears.selectors import plans_list

    return [str(p.pk) for p in plans_list()]


def _write_offs(q: dict[str, str]) -> list[str]:
    from billing.selectors import balance_of_client
    from clients.models import Client

    return list(Client.objects.filter(status="closed").annotate(balance=balance_of_client()).filter(balance__gt=0)
                .order_by("account_number").values_list("account_number", flat=True))


def _payments(q: dict[str, str]) -> list[str]:
    from payments.models import Payment

    return list(Payment.objects.filter(method=q["method"]).order_by("-paid_at", "-id")
                .values_list("receipt", flat=True))


def _payment_requests(q: dict[str, str]) -> list[str]:
    from payments.models import PaymentRequest

    return list(PaymentRequest.objects.order_by("-created").values_list("reference", flat=True))


def _messages(q: dict[str, str]) -> list[str]:
    from notifications.models import Message

    return [timezone.localtime(t).strftime("%Y-%m-%d %H:%M") for t in
            Message.objects.filter(event=q["event"]).order_by("-created", "-id").values_list("created", flat=True)]


def _requests(q: dict[str, str]) -> list[str]:
    from fieldwork.selectors import request_queue

    return [r.reference for r in request_queue(status=q["status"])]


def _orders(q: dict[str, str]) -> list[str]:
    from fieldwork.selectors import work_orders

    return [o.reference for o in work_orders(status=q["status"])]


def _audit(q: dict[str, str]) -> list[str]:
    from accounts.selectors import AuditFilters, audit_search

    return [timezone.localtime(e.created).strftime("%Y-%m-%d %H:%M") for e in audit_search(AuditFilters.from_query(q))]


def _privacy(q: dict[str, str]) -> list[str]:
    from privacy.models import DataRequest

    return [timezone.localtime(r.created).strftime("%Y-%m-%d %H:%M")
            for r in DataRequest.objects.filter(status=q["status"]).order_by("due_at", "-id")]


def _meters(q: dict[str, str]) -> list[str]:
    from meters.models import Meter

    return list(Meter.objects.filter(serial__icontains=q["q"]).order_by("serial").values_list("serial", flat=True))


def _review(q: dict[str, str]) -> list[str]:
    from meters.models import Reading

    return [timezone.localtime(t).strftime("%Y-%m-%d %H:%M") for t in
            Reading.objects.filter(status="flagged").order_by("read_at").values_list("read_at", flat=True)]


def _runs(q: dict[str, str]) -> list[str]:
    from billing.models import BillingRun

    return list(BillingRun.objects.order_by("-period").values_list("period", flat=True))


# (path, the page's filter, the first column's values it should hold, in order, and its heading)
PAGES: list[tuple[str, dict[str, str], Callable[[dict[str, str]], list[str]], str]] = [
    ("/dashboard/clients/", {"zone": "north"}, _clients, "Account"),
    ("/dashboard/meters/", {"q": "EXP-1000"}, _meters, "Serial"),
    ("/dashboard/readings/review/", {}, _review, "Read"),
    ("/dashboard/billing/", {}, _runs, "Period"),
    ("/dashboard/billing/invoices/", {"status": "paid"}, _invoices, "Number"),
    ("/dashboard/billing/credit-notes/", {}, _credit_notes, "Number"),
    ("/dashboard/arrears/", {}, _candidates, "Account"),
    ("/dashboard/arrears/disconnections/", {"status": "notice"}, _disconnections, "Account"),
    ("/dashboard/arrears/plans/", {}, _plans, "Plan"),
    ("/dashboard/arrears/write-offs/", {}, _write_offs, "Account"),
    ("/dashboard/payments/", {"method": "mpesa"}, _payments, "Receipt"),
    ("/dashboard/payments/requests/", {}, _payment_requests, "Reference"),
    ("/dashboard/messages/", {"event": "payment_received"}, _messages, "Created"),
    ("/dashboard/requests/", {"status": "open"}, _requests, "Reference"),
    ("/dashboard/work-orders/", {"status": "open"}, _orders, "Reference"),
    ("/dashboard/audit/", {"category": "change"}, _audit, "When"),
    ("/dashboard/privacy/requests/", {"status": "open"}, _privacy, "Received"),
]
IDS = [path.strip("/").replace("dashboard/", "") or "x" for path, *_ in PAGES]


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def read_xlsx(response: Any) -> list[list[str]]:
    """The sheet as the CSV writes it: numbers as text, dates as ISO dates, times to the minute."""
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = []
    for line in book.active.iter_rows(values_only=True):
        rows.append([cell_text(v) for v in line])
    return rows


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.strftime("%Y-%m-%d")
    return str(value)


def same_numbers(csv_rows: list[list[str]]) -> list[list[str]]:
    """CSV cells where XLSX holds a number: as that number's text (1234.50 → 1234.5, 3 → 3)."""
    def one(text: str) -> str:
        try:
            number = Decimal(text)
        except ArithmeticError:
            return text
        leading_zero = len(text) > 1 and text.startswith("0") and "." not in text  # a phone number, say
        if text.lstrip("-").replace(".", "", 1).isdigit() and not leading_zero:
            return str(int(number)) if number == number.to_integral() else str(float(number))
        return text
    return [[one(c) for c in line] for line in csv_rows]


def owner_of(provider: Any) -> Http:
    http = Http(HTTP_HOST=host_of(provider.slug))
    login(http, f"owner@{provider.slug}.test")
    return http


@pytest.mark.parametrize(("path", "query", "expected", "heading"), PAGES, ids=IDS)
def test_a_list_page_downloads_every_row_its_filter_matches(db, shop, path: str, query: dict[str, str],  # noqa: F811
                                                            expected: Callable[[dict[str, str]], list[str]],
                                                            heading: str) -> None:
    with tenant_context(shop):
        want = expected(query)
    connection.set_schema_to_public()
    http = owner_of(shop)
    page = http.get(path, query)
    assert page.status_code == 200
    assert b'data-testid="export-csv"' in page.content
    table = read_csv(http.get(path, {**query, "export": "csv", "page": "2"}))
    assert table[0][0] == heading
    assert [line[0] for line in table[1:]] == want
    if path.endswith(("/clients/", "/invoices/", "/payments/", "/work-orders/")):
        assert len(want) > 1
    sheet = read_xlsx(http.get(path, {**query, "export": "xlsx"}))
    assert sheet[0] == table[0]
    assert sheet[1:] == same_numbers([[c.removeprefix("'") for c in line] for line in table[1:]])


@pytest.mark.parametrize("path", [p for p, *_ in PAGES], ids=IDS)
def test_the_download_asks_for_the_page_s_capability(alpha_client, path: str) -> None:
    declared = view_access(resolve(path).func)
    capability = declared["*"] if isinstance(declared, dict) else declared
    refused = [key for key, p in ALPHA_PEOPLE.items() if p.role not in CAPABILITIES[capability]]
    assert "carol" in refused  # a client: never a staff list
    for key in refused:
        http = Http(HTTP_HOST=host_of("alpha"))
        login(http, ALPHA_PEOPLE[key].email, PASSWORD)
        assert http.get(path, {"export": "csv"}).status_code == 403, key
    assert Http(HTTP_HOST=host_of("alpha")).get(path, {"export": "csv"}).status_code == 302  # to the login page


def _rows(kind: str, n: int, start: int) -> None:
    """`n` more rows of a list in alpha."""
    from accounts.services import audit
    from notifications.models import Message
    from payments.services import payment_record

    for i in range(start, start + n):
        client, _meter = metered(f"Client {i}")
        if kind == "payments":
            payment_record(method="cash", receipt=f"QC-{i}", amount=Decimal("100.00"), paid_at=timezone.now(),
                           client=client, actor="test")
        elif kind == "messages":
            Message.objects.create(channel="sms", event="broadcast", purpose="supply", client_id=client.pk,
                                   recipient="+254712345678", text="Water off", dedup_key=f"qc-{i}")
        elif kind == "audit":
            audit(actor="test", action="client.updated", object_repr=client.account_number, target=client)
        elif kind == "work-orders":
            from fieldwork.models import WorkOrder
            from fieldwork.services import work_order_open

            work_order_open(client=client, kind=WorkOrder.Kind.SERVICE, due_on=timezone.localdate() + timedelta(days=1))


QUERY_PAGES = {"clients": "/dashboard/clients/", "payments": "/dashboard/payments/",
               "messages": "/dashboard/messages/", "audit": "/dashboard/audit/",
               "work-orders": "/dashboard/work-orders/"}


@pytest.mark.parametrize("kind", list(QUERY_PAGES))
def test_a_download_s_queries_do_not_grow_with_its_rows(tenant, alpha_client, kind: str) -> None:
    login(alpha_client, ALPHA_PEOPLE["alice"].email)
    counts = []
    for n, start in ((3, 0), (27, 3)):
        _rows(kind, n, start)
        with CaptureQueriesContext(connection) as queries:
            table = read_csv(alpha_client.get(QUERY_PAGES[kind], {"export": "csv"}))
        assert len(table) > n
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_a_client_list_download_is_audited_without_the_search_words(tenant, alpha_client) -> None:
    from accounts.models import AuditEvent

    metered("Wanjiku Export")
    metered("Otieno Export")
    login(alpha_client, ALPHA_PEOPLE["alice"].email)
    table = read_csv(alpha_client.get("/dashboard/clients/", {"q": "wanjiku", "export": "csv"}))
    assert [line[1] for line in table[1:]] == ["Wanjiku Export"]
    assert table[0] == ["Account", "Name", "Phone", "Email", "Category", "Zone", "Location", "Status", "Joined",
                        "Balance (KES)"]
    assert table[1][-1] == "0.00"
    event = AuditEvent.objects.get(action="clients.exported")
    assert (event.category, event.object_repr) == ("export", "1 clients exported")
    assert event.extra_data == {"format": "csv", "searched": True, "filters": []}
    assert "wanjiku" not in str(event.extra_data).lower()


def test_the_buttons_keep_the_page_s_filters(tenant, alpha_client) -> None:
    login(alpha_client, ALPHA_PEOPLE["alice"].email)
    page = alpha_client.get("/dashboard/payments/", {"method": "cash", "page": "1"}).content.decode()
    assert 'href="?method=cash&amp;export=csv"' in page
    assert 'href="?method=cash&amp;export=xlsx"' in page
