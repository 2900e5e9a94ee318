"""Invoice, receipt and statement PDFs: real PDFs read back with poppler (pdftotext, pdfimages),
what a bill says about the account, the fetcher that reaches nothing but our static files and
the provider's logo, batches split into one PDF per bill, the Celery path after finalising,
who may download what, and the provider's branding form."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client as Http
from django.test.utils import CaptureQueriesContext
from django.utils.safestring import mark_safe
from django_tenants.utils import tenant_context

from accounts.models import AuditEvent, User
from billing import documents
from billing.models import Invoice
from billing.runs import billing_run_finalize, billing_run_start
from clients.selectors import name_matches
from payments.models import Payment
from payments.services import payment_record
from tenants.models import Provider
from tenants.services import provider_branding_update
from tests.billing_helpers import NBO, D, metered, read, travel
from tests.conftest import host_of, login
from tests.payments_helpers import mpesa_ready

PAYBILL = "174379"  # the sandbox shortcode mpesa_ready() saves


# --- helpers -----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Stored PDFs and logos in a folder of this test's own: the database is rolled back after
    each test (invoice numbers come round again), the files must go with it."""
    settings.MEDIA_ROOT = tmp_path
    storages["default"].__dict__.pop("relative_media_root", None)  # TenantFileSystemStorage caches it
    yield tmp_path
    storages["default"].__dict__.pop("relative_media_root", None)


@pytest.fixture
def sniffer() -> Iterator[list[str]]:
    """A real HTTP server on 127.0.0.1 that records every request made to it."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        do_GET = do_POST = do_HEAD = _record  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen.append(f"port {server.server_address[1]}")  # seen[0]; requests follow
    yield seen
    server.shutdown()
    server.server_close()


def poppler(tool: str, pdf: bytes, *args: str) -> str:
    done = subprocess.run([f"/usr/bin/{tool}", *args, "-", "-"] if tool == "pdftotext" else [f"/usr/bin/{tool}", *args, "-"],  # noqa: S603
                          input=pdf, capture_output=True, check=True)
    return done.stdout.decode()


def text_of(pdf: bytes, *, layout: bool = True) -> str:
    """The PDF's text as poppler reads it: laid out as printed, or in reading order."""
    assert pdf.startswith(b"%PDF-")
    return poppler("pdftotext", pdf, *(["-layout"] if layout else []))


def flat(text: str) -> str:
    """The text with its layout's runs of spaces and line breaks as single spaces."""
    return " ".join(text.split())


def figure(text: str, label: str) -> str:
    """The amount printed after `label` (in the account summary: the first such line)."""
    return re.search(rf"{label} KES (-?[\d,]+\.\d\d)", text).group(1)


def pages_of(pdf: bytes) -> int:
    info = poppler("pdfinfo", pdf)
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def images_in(pdf: bytes) -> list[str]:
    return poppler("pdfimages", pdf, "-list").splitlines()[2:]  # after the two header lines


def png(width: int = 240, height: int = 80, noise: bool = False) -> bytes:
    import os

    from PIL import Image

    image = (Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)) if noise
             else Image.new("RGB", (width, height), "#0d7a5f"))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def browser(email: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"))
    assert login(http, email).status_code == 302
    return http


def bill(period: str, day: str) -> None:
    with travel(day):
        billing_run_finalize(run=billing_run_start(period=period)[0])


@pytest.fixture
def paid_between(tenant):  # type: ignore[no-untyped-def]
    """A client billed 500.00 for September (10 m³), who pays 300.00 on 10 October, then is
    billed 940.00 for October (18 m³); the portal login carol is theirs; M-Pesa paybill set.
    A neighbour is billed alongside."""
    mpesa_ready()
    _, neighbour = metered("Neighbour Client")
    read(neighbour, "0", "2026-08-31")
    read(neighbour, "4", "2026-10-31")
    client, meter = metered("Mary Wanjiku")
    client.user = User.objects.get(email="carol@alpha.test")
    client.location = "Plot 14, Nyali"
    client.save(update_fields=["user", "location"])
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    read(meter, "28", "2026-10-31")
    bill("2026-09", "2026-10-02")
    payment_record(method="cash", receipt="CASH-0001", amount=D("300.00"), client=client,
                   paid_at=datetime(2026, 10, 10, 12, tzinfo=NBO))
    bill("2026-10", "2026-11-02")
    return client


def october(client) -> Invoice:  # type: ignore[no-untyped-def]
    return Invoice.objects.get(client=client, period="2026-10")


# --- what a bill says --------------------------------------------------------------------------
def test_a_bill_reads_back_with_everything_it_must_say(paid_between, tenant) -> None:  # type: ignore[no-untyped-def]
    provider_branding_update(provider=tenant, actor="test", address="P.O. Box 90420-80100\nNkrumah Road, Mombasa",
                             kra_pin="P051234567X", website="https://alpha-water.example", contact_phone="0712345678")
    invoice = october(paid_between)
    text = flat(text_of(documents.invoice_pdf(invoice)))
    for expected in (f"Invoice {invoice.number}", "Period October 2026", "Issued 2 Nov 2026", "Due 16 Nov 2026",
                     "Mary Wanjiku", f"Account {paid_between.account_number}", "Plot 14, Nyali", invoice.meter_serial,
                     "10.000 on 30 Sep 2026", "28.000 on 31 Oct 2026", "Consumption billed 18.000",
                     "Water 0–10 m³ 10 40.00 KES 400.00", "Water 10–30 m³ 8 55.00 KES 440.00",
                     "Fixed charge 1 100.00 KES 100.00", "This bill KES 940.00",
                     "Alpha Water", "P.O. Box 90420-80100", "KRA PIN P051234567X", "+254712345678",
                     "https://alpha-water.example", "alice@alpha.test", "https://majismart.localhost/privacy/",
                     f"M-Pesa Paybill {PAYBILL}", "https://alpha.majismart.localhost/portal/",
                     "by 16 Nov 2026"):
        assert expected in text, expected
    assert re.search(rf"Account {paid_between.account_number}\b.*Account {paid_between.account_number}\b", text)
    # As the account stood when the bill was issued: 500.00 owed, 300.00 paid, 940.00 billed.
    assert figure(text, "Previous balance") == "500.00"
    assert figure(text, "Payments since") == "-300.00"
    assert figure(text, "Other credits and charges") == "0.00"
    assert figure(text, "This bill") == "940.00"
    assert figure(text, "Amount due") == "1,140.00"
    assert pages_of(documents.invoice_pdf(invoice)) == 1


def test_the_figures_stay_as_issued_and_credits_between_bills_have_their_own_line(paid_between, tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.services import adjustment_post, credit_note_create

    september = Invoice.objects.get(client=paid_between, period="2026-09")
    figures = documents.invoice_figures([september.pk, october(paid_between).pk])
    assert (figures[september.pk].previous_balance, figures[september.pk].amount_due) == (D("0.00"), D("500.00"))
    # Later entries (a payment, a credit note on October's bill) change nothing October's bill says.
    payment_record(method="cash", receipt="CASH-0002", amount=D("1140.00"), client=paid_between,
                   paid_at=datetime(2026, 11, 20, 9, tzinfo=NBO))
    credit_note_create(invoice=october(paid_between), amount="40.00", reason="Leak allowance", actor="test")
    again = documents.invoice_figures([october(paid_between).pk])[october(paid_between).pk]
    assert (again.previous_balance, again.payments, again.other, again.this_bill, again.amount_due) == (
        D("500.00"), D("-300.00"), D("0.00"), D("940.00"), D("1140.00"))
    # A goodwill credit before November's bill is neither a payment nor part of the bill.
    adjustment_post(client=paid_between, amount="-25.00", reason="Goodwill", actor="test")
    read(paid_between.meters.get(), "30", "2026-11-22")
    with travel("2026-11-23"):
        billing_run_finalize(run=billing_run_start(period="2026-11")[0])
    november = Invoice.objects.get(client=paid_between, period="2026-11")
    f = documents.invoice_figures([november.pk])[november.pk]
    assert (f.previous_balance, f.payments, f.other) == (D("1140.00"), D("-1140.00"), D("-65.00"))
    assert f.amount_due == f.previous_balance + f.payments + f.other + f.this_bill == D("-65.00") + november.total
    text = flat(text_of(documents.invoice_pdf(november)))
    assert figure(text, "Other credits and charges") == "-65.00"


def test_a_till_provider_prints_buy_goods_and_no_account_to_type(paid_between) -> None:  # type: ignore[no-untyped-def]
    mpesa_ready(mpesa_shortcode_type="till", mpesa_shortcode="174379", mpesa_till_number="5123456")
    text = flat(text_of(documents.invoice_pdf(october(paid_between))))
    assert "M-Pesa Buy Goods, Till 5123456" in text and f"Paybill {PAYBILL}" not in text
    assert text.count(f"Account {paid_between.account_number}") == 1  # the bill-to line: nothing to type


def test_an_estimated_bill_says_so(tenant) -> None:  # type: ignore[no-untyped-def]
    client, meter = metered("Estimated Client")
    read(meter, "0", "2026-08-31")
    read(meter, "12", "2026-09-30")
    bill("2026-09", "2026-10-02")
    bill("2026-10", "2026-11-02")  # no October reading: estimated
    invoice = october(client)
    assert invoice.estimated
    text = flat(text_of(documents.invoice_pdf(invoice)))
    assert "Consumption billed ESTIMATED" in text and "not read" in text
    assert "estimated from your recent use" in text and "(est.)" in text


# --- what WeasyPrint may fetch -----------------------------------------------------------------
def test_markup_in_a_client_name_stays_text_and_fetches_nothing(tenant, sniffer) -> None:  # type: ignore[no-untyped-def]
    port = sniffer[0].split()[1]
    name = f'<b>Mary</b> <img src="http://127.0.0.1:{port}/x.png">'
    client, meter = metered(name)
    client.location = f'<link rel="stylesheet" href="http://127.0.0.1:{port}/s.css">Plot 9'
    client.save(update_fields=["location"])
    read(meter, "0", "2026-09-30")
    read(meter, "5", "2026-10-31")
    bill("2026-10", "2026-11-02")
    text = text_of(documents.invoice_pdf(october(client)), layout=False)
    assert f'<b>Mary</b><imgsrc="http://127.0.0.1:{port}/x.png">' in "".join(text.split())
    assert "<link" in text and "Plot 9" in text
    assert sniffer[1:] == []  # nothing was asked of the server


def test_the_fetcher_refuses_every_url_but_our_static_files_and_the_logo(tenant, sniffer, caplog) -> None:  # type: ignore[no-untyped-def]
    port = sniffer[0].split()[1]
    elsewhere = f"http://127.0.0.1:{port}"
    provider = documents.current_provider()
    fetcher = documents.DocumentFetcher(provider)
    head = documents.letterhead(provider, fetcher)
    # A template or stylesheet pointing elsewhere: every reference WeasyPrint follows.
    section = (f'<section class="doc" id="doc-x"><img src="{elsewhere}/logo.png"><img src="https://{elsewhere[7:]}/l.png">'
               f'<link rel="stylesheet" href="{elsewhere}/evil.css"><style>@import url("{elsewhere}/i.css");'
               f'p {{ background: url("{elsewhere}/bg.png") }} div {{ background: url("file:///etc/passwd") }}</style>'
               f'<img src="file:///etc/hostname"><img src="/static/../../manage.py"><img src="/static/%2e%2e/settings.py">'
               f'<img src="/branding/../../beta/branding/logo.png"><img src="/media/alpha/branding/logo.png">'
               '<p>Hello</p><div>World</div><img src="data:image/png;base64,'
               + base64.b64encode(png(40, 40)).decode() + '"></section>')
    # (Sections are trusted template output; a plain string would be escaped whole.)
    pdf = documents.render_pdf(documents.document_html([mark_safe(section)], head, title="probe"), fetcher)  # noqa: S308
    assert "Hello" in text_of(pdf) and len(images_in(pdf)) == 1  # the data: image only
    assert sniffer[1:] == []
    assert len(fetcher.refused) >= 10 and all("pdf.css" not in url for url in fetcher.refused)
    assert "document fetch refused" in caplog.text
    for url in ("file:///etc/passwd", f"{elsewhere}/x", "https://documents.majismart.invalid/static/../pyproject.toml",
                "https://documents.majismart.invalid/static/css/app.css?x=1", "ftp://example.com/x",
                "https://documents.majismart.invalid/branding/logo/../../x"):
        with pytest.raises(documents.FetchRefused):
            fetcher.fetch(url)
    css = fetcher.fetch("https://documents.majismart.invalid/static/css/pdf.css")
    assert css.content_type == "text/css" and b"@page" in css.read()


def test_the_logo_is_embedded_and_a_forged_logo_path_is_not_read(tenant, paid_between, media) -> None:  # type: ignore[no-untyped-def]
    invoice = october(paid_between)
    assert images_in(documents.invoice_pdf(invoice)) == []  # no logo yet
    provider_branding_update(provider=tenant, actor="test", logo=SimpleUploadedFile("brand.png", png(240, 80)))
    default_storage.delete(documents.invoice_pdf_path(invoice))
    embedded = images_in(documents.invoice_pdf(invoice))
    assert len(embedded) == 1 and embedded[0].split()[3:5] == ["240", "80"]
    # A logo name pointing at another provider's files (or anywhere else) is not a logo.
    stolen = media / "beta" / "branding" / "logo-0123456789ab.png"
    stolen.parent.mkdir(parents=True)
    stolen.write_bytes(png(300, 100))
    for forged in ("../beta/branding/logo-0123456789ab.png", "/etc/hostname", "branding/../../beta/branding/x.png"):
        Provider.objects.filter(pk=tenant.pk).update(logo=forged)
        default_storage.delete(documents.invoice_pdf_path(invoice))
        assert images_in(documents.invoice_pdf(invoice)) == [], forged
        assert documents.DocumentFetcher(Provider.objects.get(pk=tenant.pk)).logo() is None


# --- batches, storage, Celery ------------------------------------------------------------------
@pytest.fixture
def five_bills(tenant):  # type: ignore[no-untyped-def]
    mpesa_ready()
    for k in range(5):
        _, meter = metered(f"Batch Client {k}")
        read(meter, "0", "2026-09-30")
        read(meter, str(5 + 7 * k), "2026-10-31")
    bill("2026-10", "2026-11-02")
    return list(Invoice.objects.filter(period="2026-10").order_by("number"))


def test_a_batch_makes_one_pdf_per_bill_equal_to_rendering_it_alone(five_bills) -> None:  # type: ignore[no-untyped-def]
    assert documents.invoices_render([i.pk for i in five_bills]) == 5
    numbers = [i.number for i in five_bills]
    provider = documents.current_provider()
    fetcher = documents.DocumentFetcher(provider)
    head = documents.letterhead(provider, fetcher)
    for invoice, b in zip(five_bills, documents.invoice_data([i.pk for i in five_bills]), strict=True):
        with default_storage.open(documents.invoice_pdf_path(invoice)) as handle:
            pdf = handle.read()
        text = text_of(pdf)
        assert pages_of(pdf) == 1
        assert [n for n in numbers if n in text] == [invoice.number]  # its own number, nobody else's
        assert invoice.client.full_name in text
        # Stamped on the batch's frame, it reads exactly as the same page rendered alone by WeasyPrint.
        assert text_of(documents.bill_alone_pdf(b, head, fetcher)) == text
        assert f"Invoice {invoice.number}" in poppler("pdfinfo", pdf)
    assert documents.invoices_render([i.pk for i in five_bills]) == 0  # stored already: nothing again


def test_a_bill_longer_than_the_form_flows_onto_the_long_layout(tenant) -> None:  # type: ignore[no-untyped-def]
    from billing.invoice_form import METER_ROWS
    from meters.services import meter_create

    mpesa_ready()
    client, first = metered("Many Meters")
    meters = [first] + [meter_create(actor="test", serial=f"MM-{n}", client=client, installed_on=first.installed_on)
                        for n in range(METER_ROWS)]
    for n, meter in enumerate(meters):
        read(meter, "0", "2026-09-30")
        read(meter, str(3 + n), "2026-10-31")
    bill("2026-10", "2026-11-02")
    invoice = october(client)
    text = flat(text_of(documents.invoice_pdf(invoice)))
    assert all(m.serial in text for m in meters) and invoice.number in text
    assert "Consumption billed" in text and "How to pay" in text


def test_stamped_bills_carry_their_own_fonts_links_and_any_latin_name(tenant, five_bills) -> None:  # type: ignore[no-untyped-def]
    from billing.models import Invoice as Bill

    client = five_bills[0].client
    client.full_name = "Wanjirũ Ñjoroge-Öztürk ☂"  # Latin Extended-A, Latin-1 and a symbol DejaVu has
    client.save(update_fields=["full_name"])
    pdf = documents.invoice_pdf(Bill.objects.get(pk=five_bills[0].pk))
    text = text_of(pdf)
    assert "Wanjirũ Ñjoroge-Öztürk ☂" in text
    fonts = poppler("pdffonts", pdf)
    assert "DejaVuSans" in fonts and "DejaVuSans-Bold" in fonts and fonts.count(" yes ") >= 2  # embedded subsets
    assert b"/URI (https://majismart.localhost/privacy/)" in pdf  # the footer's link survives


def test_a_batch_takes_the_same_queries_for_two_bills_or_five(five_bills) -> None:  # type: ignore[no-untyped-def]
    def queries(invoices: list[Invoice]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert documents.invoices_render([i.pk for i in invoices]) == len(invoices)
        return len(ctx.captured_queries)

    assert queries(five_bills[:2]) == queries(five_bills[2:]) <= 9


def test_finalising_renders_the_pdfs_through_celery_into_the_providers_own_folder(  # type: ignore[no-untyped-def]
        tenant, media, monkeypatch, django_capture_on_commit_callbacks) -> None:
    from billing import receivers
    from billing.tasks import invoices_render_task

    monkeypatch.setattr(receivers, "PDF_TASK_CHUNK", 2)
    sent: list[list[int]] = []
    original = invoices_render_task.delay
    monkeypatch.setattr(invoices_render_task, "delay", lambda ids: sent.append(list(ids)) or original(ids))
    for k in range(3):
        _, meter = metered(f"Celery Client {k}")
        read(meter, "0", "2026-09-30")
        read(meter, "9", "2026-10-31")
    with travel("2026-11-02"), django_capture_on_commit_callbacks(execute=True):
        run = billing_run_finalize(run=billing_run_start(period="2026-10")[0])
    ids = sorted(Invoice.objects.filter(run=run).values_list("pk", flat=True))
    assert sent == [ids[:2], ids[2:]]  # in chunks, primitive ids
    for invoice in Invoice.objects.filter(run=run):
        path = media / "alpha" / "invoices" / "2026-10" / f"{invoice.number}.pdf"
        assert default_storage.path(documents.invoice_pdf_path(invoice)) == str(path)
        assert path.exists() and invoice.number in text_of(path.read_bytes())
    assert invoices_render_task(ids) == {"invoices": 3, "rendered": 0}  # a repeated message renders nothing


def test_a_missing_pdf_is_rendered_on_demand_then_served_as_stored(paid_between, media, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    invoice = october(paid_between)
    name = documents.invoice_pdf_path(invoice)
    assert not default_storage.exists(name)  # the test's finalise committed nothing, queued nothing
    with pytest.raises(FileNotFoundError):
        documents.invoice_pdf(invoice, render_if_missing=False)
    anne = browser("anne@alpha.test")
    first = anne.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/")
    assert first.status_code == 200 and default_storage.exists(name)
    monkeypatch.setattr(documents, "invoices_render", lambda ids: pytest.fail("rendered again"))
    again = anne.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/")
    assert again.content == first.content
    with pytest.raises(documents.DocumentUnavailable):
        documents.invoice_pdf_path(Invoice(status=Invoice.Status.DRAFT, period="2026-12"))


# --- who may download what ---------------------------------------------------------------------
def test_pages_serve_pdfs_inline_and_uncached_to_the_right_people_only(paid_between, alpha) -> None:  # type: ignore[no-untyped-def]
    invoice = october(paid_between)
    neighbours_bill = Invoice.objects.get(name_matches("Neighbour Client", "client__"), period="2026-10")
    with travel("2026-11-23"):
        draft = billing_run_start(period="2026-11")[0].invoices.first()
    carol = browser("carol@alpha.test")
    own = carol.get(f"/portal/bills/{invoice.pk}/pdf/")
    assert own.status_code == 200 and own["Content-Type"] == "application/pdf"
    assert own["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert own["Cache-Control"] == "private, no-store" and invoice.number in text_of(own.content)
    page = carol.get(f"/portal/bills/{invoice.pk}/")
    assert f'href="/portal/bills/{invoice.pk}/pdf/"'.encode() in page.content
    assert f'href="/portal/bills/{invoice.pk}/pdf/"'.encode() in carol.get("/portal/bills/").content
    assert carol.get(f"/portal/bills/{neighbours_bill.pk}/pdf/").status_code == 404
    assert carol.get(f"/portal/bills/{draft.pk}/pdf/").status_code == 404
    assert carol.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/").status_code == 403
    assert browser("ari@alpha.test").get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/").status_code == 403
    anne = browser("anne@alpha.test")
    assert anne.get(f"/dashboard/billing/invoices/{draft.pk}/pdf/").status_code == 404
    detail = anne.get(f"/dashboard/billing/invoices/{invoice.pk}/")
    assert f'href="/dashboard/billing/invoices/{invoice.pk}/pdf/"'.encode() in detail.content
    anonymous = Http(HTTP_HOST=host_of("alpha")).get(f"/portal/bills/{invoice.pk}/pdf/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url


def test_the_bills_list_keeps_its_query_count_with_pdf_links(paid_between) -> None:  # type: ignore[no-untyped-def]
    carol = browser("carol@alpha.test")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert carol.get("/portal/bills/").status_code == 200
        return len(ctx.captured_queries)

    two = queries()
    read(paid_between.meters.get(), "31", "2026-11-22")
    with travel("2026-11-23"):
        billing_run_finalize(run=billing_run_start(period="2026-11")[0])
    assert queries() == two  # three bills, three PDF links, the same queries


def test_the_api_serves_the_pdf_and_another_provider_never_reaches_it(paid_between, alpha_api, beta_api, alpha) -> None:  # type: ignore[no-untyped-def]
    invoice = october(paid_between)
    response = alpha_api.get(f"/api/v1/invoices/{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert invoice.number in text_of(response.content)
    assert alpha_api.get(f"/api/v1/invoices/{invoice.pk}/pdf/").status_code == 200  # Accept: anything
    with travel("2026-11-23"):
        draft = billing_run_start(period="2026-11")[0].invoices.first()
    missing = alpha_api.get(f"/api/v1/invoices/{draft.pk}/pdf/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
    assert beta_api.get(f"/api/v1/invoices/{invoice.pk}/pdf/").status_code == 404
    bob = Http(HTTP_HOST=host_of("beta"))
    assert login(bob, "bob@beta.test").status_code == 302
    assert bob.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/").status_code == 404
    connection.set_schema_to_public()
    with tenant_context(alpha):
        assert Invoice.objects.filter(pk=invoice.pk).exists()  # it is there, only not theirs


def test_statements_print_the_range_the_page_shows(paid_between) -> None:  # type: ignore[no-untyped-def]
    september = Invoice.objects.get(client=paid_between, period="2026-09")
    invoice = october(paid_between)
    carol = browser("carol@alpha.test")
    page = carol.get("/portal/statement/", {"from": "2026-10-15"})
    assert b'href="/portal/statement/pdf/?from=2026-10-15"' in page.content
    text = text_of(carol.get("/portal/statement/pdf/", {"from": "2026-10-15"}).content)
    assert "Balance brought forward" in text and "KES 200.00" in text  # 500 billed - 300 paid
    assert invoice.number in text and september.number not in text and "CASH-0001" not in text
    assert "KES 1,140.00" in text and f"M-Pesa Paybill {PAYBILL}" in text
    everything = text_of(browser("anne@alpha.test").get(f"/dashboard/clients/{paid_between.pk}/statement/pdf/").content)
    assert september.number in everything and "CASH-0001" in everything and "Balance brought forward" not in everything
    assert browser("ari@alpha.test").get(f"/dashboard/clients/{paid_between.pk}/statement/pdf/").status_code == 403


def test_receipts_in_the_portal_and_the_dashboard(paid_between) -> None:  # type: ignore[no-untyped-def]
    payment = Payment.objects.get(receipt="CASH-0001")
    carol = browser("carol@alpha.test")
    assert f'href="/portal/payments/{payment.pk}/pdf/"'.encode() in carol.get(f"/portal/payments/{payment.pk}/").content
    response = carol.get(f"/portal/payments/{payment.pk}/pdf/")
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    text = text_of(response.content)
    for expected in ("Payment receipt", "CASH-0001", "KES 300.00", paid_between.account_number, "Mary Wanjiku",
                     "Balance after this payment", "KES 200.00"):
        assert expected in text, expected
    assert text_of(browser("anne@alpha.test").get(f"/dashboard/payments/{payment.pk}/pdf/").content) == text
    stranger, _ = metered("Stranger")
    theirs = payment_record(method="cash", receipt="CASH-0009", amount=D("5.00"), client=stranger,
                            paid_at=datetime(2026, 11, 1, tzinfo=NBO)).payment
    assert carol.get(f"/portal/payments/{theirs.pk}/pdf/").status_code == 404
    assert browser("ari@alpha.test").get(f"/dashboard/payments/{payment.pk}/pdf/").status_code == 403


# --- the provider's branding -------------------------------------------------------------------
def branding_post(http: Http, **changes: object):  # type: ignore[no-untyped-def]
    data = {"address": "P.O. Box 1, Mombasa", "kra_pin": "p051234567x", "contact_email": "Care@Alpha.test",
            "contact_phone": "0712 345 678", "website": "https://alpha-water.example", "brand_color": "#0D7A5F",
            **changes}
    return http.post("/dashboard/settings/branding/", data)


def test_the_branding_form_saves_audits_and_previews(tenant) -> None:  # type: ignore[no-untyped-def]
    alice = browser("alice@alpha.test")
    assert b'href="/dashboard/settings/branding/"' in alice.get("/dashboard/settings/").content
    assert alice.get("/dashboard/settings/branding/").status_code == 200
    saved = branding_post(alice, logo=SimpleUploadedFile("any-name.png", png(240, 80), content_type="image/png"))
    assert saved.status_code == 302
    provider = Provider.objects.get(pk=tenant.pk)
    assert (provider.kra_pin, provider.brand_color, provider.contact_email, provider.contact_phone) == (
        "P051234567X", "#0d7a5f", "care@alpha.test", "+254712345678")
    assert provider.logo.name.startswith("branding/logo-") and provider.logo.name.endswith(".png")
    event = AuditEvent.objects.get(action="provider.branding_changed")
    assert event.actor == "alice@alpha.test" and "logo" in event.extra_data["fields"]
    assert event.extra_data["after"]["kra_pin"] == "P051234567X" and "contact_phone" not in event.extra_data["after"]
    page = alice.get("/dashboard/settings/branding/")
    assert b'data-testid="logo-preview"' in page.content and b"P051234567X" in page.content
    logo = alice.get("/branding/logo/")
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png" and b"".join(logo.streaming_content) == (
        default_storage.open(provider.logo.name).read())
    assert browser("carol@alpha.test").get("/branding/logo/").status_code == 200  # the provider's clients too
    assert Http(HTTP_HOST=host_of("alpha")).get("/branding/logo/").status_code == 404
    bob = Http(HTTP_HOST=host_of("beta"))
    login(bob, "bob@beta.test")
    assert bob.get("/branding/logo/").status_code == 404  # beta's domain serves beta's logo only: none


@pytest.mark.parametrize(("changes", "message"), [
    ({"kra_pin": "51234567X"}, b"A KRA PIN is a letter, nine digits and a letter"),
    ({"brand_color": "blue"}, b"Give the colour as #RRGGBB"),
    ({"logo": SimpleUploadedFile("logo.png", b"GIF89a" + b"\x00" * 200, content_type="image/png")},
     b"The logo must be a PNG or JPEG image."),
    ({"logo": SimpleUploadedFile("logo.png", b"%PDF-1.7 not an image at all", content_type="image/png")},
     b"The logo must be a PNG or JPEG image."),
    ({"logo": "big"}, b"The logo must be at most 1 MB."),
])
def test_the_branding_form_refuses_bad_values_on_the_form(tenant, changes, message) -> None:  # type: ignore[no-untyped-def]
    if changes.get("logo") == "big":
        big = png(700, 700, noise=True)
        assert len(big) > 1024 * 1024
        changes = {"logo": SimpleUploadedFile("big.png", big, content_type="image/png")}
    response = branding_post(browser("alice@alpha.test"), **changes)
    assert response.status_code == 400 and message in response.content and b"has-error" in response.content
    provider = Provider.objects.get(pk=tenant.pk)
    assert (provider.kra_pin, provider.logo.name) == ("", "")
    assert not AuditEvent.objects.filter(action="provider.branding_changed").exists()


def test_only_the_owner_edits_branding(tenant) -> None:  # type: ignore[no-untyped-def]
    amos = browser("amos@alpha.test")
    assert amos.get("/dashboard/settings/branding/").status_code == 403
    assert branding_post(amos).status_code == 403
    assert Provider.objects.get(pk=tenant.pk).kra_pin == ""
    assert b'href="/dashboard/settings/branding/"' not in amos.get("/dashboard/settings/").content


def test_kes_reads_decimals_as_people_do() -> None:
    from majismart.template_filters import kes

    assert [kes(v) for v in (D("1948.75"), D("1948.745"), D("-500"), None, D("-0.004"), D("1234567"), "12.5")] == [
        "KES 1,948.75", "KES 1,948.75", "KES -500.00", "KES 0.00", "KES 0.00", "KES 1,234,567.00", "KES 12.50"]

