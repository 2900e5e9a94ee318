"""Invoice, receipt and statement PDFs (WeasyPrint), in the provider's branding.

Invoices are rendered once, after their run is finalised (billing.receivers queues
`invoices_render_task` in chunks), and stored through the default storage at
`invoice_pdf_path(invoice)`, which TenantFileSystemStorage keeps under MEDIA_ROOT/<schema>/.
`invoice_pdf` serves the stored file and renders a missing one on demand. Receipts
(payments.documents) and statements are rendered when asked for: they are short, and a
statement depends on the range asked.

What a bill says about the account is how it stood when issued, and stays so: the ledger is
append-only and its ids grow, so "amount due" is the client's ledger sum up to this invoice's own
entries, "previous balance" the sum up to the previous invoice's own entries, and what lies
between them is payments (and their reversals) or other credits and charges.

Speed: a bill is a form (billing/invoice_form.py): a frame that is the same for every bill of a
run (letterhead, labels, boxes, dates, the chart's months, how to pay, footer) and a layer of the
bill's own figures. `invoices_render` lays the frame out with WeasyPrint once per STAMP_BATCH
bills and stamps each bill's layer over it (majismart.pdfstamp: positioned text in a DejaVu Sans
subset of the batch's characters, boxes, then one PDF written around the frame's bytes), about
4 ms a bill where one WeasyPrint call per bill takes about 250 ms: WeasyPrint spends most of a
millisecond on every box of a page, and nearly all of a bill's boxes are the frame's. bench/pdf.py
measures both. A bill longer than the form (more meters or charge lines than it has rows for)
flows through templates/pdf/invoice.html instead, LAYOUT_BATCH bills per layout pass, split into
one PDF each with `Document.copy(pages)`; so does every bill on a machine without DejaVu Sans.

Fetching: WeasyPrint may only read our own static files (found by the staticfiles finders,
nothing outside them) and the current provider's logo (from its storage); `data:` URLs are
read in place. Any other URL (http, https, file:, another path) is refused before any network
or file access, and logged. Every client-entered value reaches the HTML through Django's
autoescaping, so a name with markup in it stays text.
"""

from __future__ import annotations

import copy
import gc
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import pairwise
from pathlib import PurePosixPath
from typing import cast
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext, override
from weasyprint import HTML
from weasyprint.document import Document
from weasyprint.urls import URLFetcher, URLFetcherResponse

from accounts.languages import chosen_or_default
from billing import invoice_form
from billing.models import Invoice
from billing.selectors import client_statement
from clients.models import Client
from majismart import pdfstamp
from majismart.charts import bar_chart
from majismart.tenancy import connection
from majismart.urls import domain_url
from tenants.models import DEFAULT_BRAND_COLOR, Provider
from tenants.selectors import logo_file

log = logging.getLogger(__name__)

# The base URL of every document: relative references resolve here and the fetcher answers
# them itself. `.invalid` never resolves (RFC 2606), should anything ever try.
ASSET_HOST = "documents.majismart.invalid"
BASE_URL = f"https://{ASSET_HOST}/"
LOGO_PATH = "/branding/logo"
STATIC_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
                ".ttf": "font/ttf", ".woff2": "font/woff2"}
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Bills per layout pass. Measured (bench/pdf.py, BENCH_PDF_BATCHES): 10 a pass 6.0 bills/s, 25 7.3,
# 50 8.1, 100 7.2; a pass holds about 3 MiB per bill until its last PDF is written.
LAYOUT_BATCH = 50
# Bills stamped on one frame: the frame (about 0.1 s to lay out) and the batch's font subsets
# (about 0.05 s) are shared by all of them.
STAMP_BATCH = 200
# The chart's view box is 600 wide: this height prints it 182 mm x 32 mm, text unstretched.
CHART_HEIGHT = 105
# Each entry returns how a client pays this provider ({"method", "number", "account": bool}),
# or None. Payments registers its own (payments.apps): billing never imports payments.
PAYMENT_INSTRUCTIONS: list[Callable[[], dict[str, object] | None]] = []


class FetchRefused(Exception):
    pass


# --- fetching --------------------------------------------------------------------------------
class DocumentFetcher(URLFetcher):
    """WeasyPrint's only way out: our static files, the provider's logo, `data:` URLs."""

    def __init__(self, provider: Provider | None = None) -> None:
        # `data:` is the only scheme the parent may open itself, and only after our checks.
        super().__init__(timeout=1, allowed_protocols=("data",), allow_redirects=False)
        self.provider = provider
        self._logo: tuple[bytes, str] | None = None
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.netloc == ASSET_HOST and not parts.query:
            path = unquote(parts.path)
            if path.startswith("/static/"):
                found = _static_file(path[len("/static/"):])
                if found is not None:
                    return URLFetcherResponse(url, found[0], {"Content-Type": found[1]})
            elif path == LOGO_PATH and self.provider is not None:
                logo = self.logo()
                if logo is not None:
                    return URLFetcherResponse(url, logo[0], {"Content-Type": logo[1]})
        self.refused.append(url)
        log.warning("document fetch refused: %s", url[:300])
        raise FetchRefused(f"not fetched: {url[:300]}")

    def logo(self) -> tuple[bytes, str] | None:
        """The provider's logo bytes and type, read once per fetcher (one per batch)."""
        if self._logo is None and self.provider is not None:
            found = logo_file(self.provider)
            if found is not None:
                with self.provider.logo.storage.open(found[0], "rb") as handle:
                    self._logo = (handle.read(), found[1])
        return self._logo


def _static_file(relative: str) -> tuple[bytes, str] | None:
    """A file our staticfiles finders know, by a plain relative path of a known type."""
    pure = PurePosixPath(relative)
    content_type = STATIC_TYPES.get(pure.suffix.lower())
    if (content_type is None or pure.is_absolute() or "\\" in relative or "\x00" in relative
            or any(part in ("", ".", "..") for part in relative.split("/"))):
        return None
    path = finders.find(relative)  # each finder joins safely inside its own roots
    if not path or isinstance(path, list):
        return None
    with open(path, "rb") as handle:
        return handle.read(), content_type


# --- the engine: HTML in, PDFs out -----------------------------------------------------------
def current_provider() -> Provider:
    return Provider.objects.get(schema_name=connection.schema_name)


@dataclass
class Letterhead:
    """What every document of a provider prints around its content."""

    name: str
    address: str
    kra_pin: str
    color: str
    website: str
    email: str
    phone: str
    logo: bool
    privacy_url: str
    portal_url: str
    how_to_pay: list[dict[str, object]] = field(default_factory=list)

    @property
    def address_line(self) -> str:
        return ", ".join(line.strip() for line in self.address.splitlines() if line.strip())


def letterhead(provider: Provider, fetcher: DocumentFetcher) -> Letterhead:
    ways = [way for way in (entry() for entry in PAYMENT_INSTRUCTIONS) if way]
    return Letterhead(
        name=provider.name, address=provider.address, kra_pin=provider.kra_pin,
        color=provider.brand_color if _COLOR.match(provider.brand_color or "") else DEFAULT_BRAND_COLOR,
        website=provider.website, email=provider.contact_email, phone=provider.contact_phone,
        logo=fetcher.logo() is not None,
        privacy_url=domain_url(settings.BASE_DOMAIN, "/privacy/"),
        portal_url=domain_url(provider.domain, "/portal/") if provider.domain else "",
        how_to_pay=ways)


def document_html(sections: Sequence[str], head: Letterhead, *, title: str) -> str:
    """One HTML document of already rendered sections (templates/pdf/base.html each)."""
    return render_to_string("pdf/document.html", {"sections": sections, "head": head, "title": title})


def render_pdf(html: str, fetcher: DocumentFetcher) -> bytes:
    """One document, one PDF."""
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()


def render_pdfs(html: str, titles: dict[object, str], fetcher: DocumentFetcher) -> Iterator[tuple[object, bytes]]:
    """One layout pass for many documents (`titles` by key), then one PDF each."""
    # The pass builds a large tree of objects that live until its last PDF is written: the
    # cyclic collector would walk it, and the whole process with it, again and again as it grows.
    # It is paused for the batch (memory is bounded by LAYOUT_BATCH); everything allocated since
    # is still in the youngest generation, so collecting that one alone frees the batch's cycles
    # without walking the rest of the process.
    paused = gc.isenabled()
    gc.disable()
    try:
        yield from _split(HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render(), titles)
    finally:
        gc.collect(0)
        if paused:
            gc.enable()


def _split(document: Document, titles: dict[object, str]) -> Iterator[tuple[object, bytes]]:
    """Each document's pages, from the page carrying its anchor `doc-<key>` to the page before
    the next one's, written as its own PDF."""
    starts: dict[object, int] = {}
    wanted = {f"doc-{key}": key for key in titles}
    for number, page in enumerate(document.pages):
        for anchor in page.anchors:
            if anchor in wanted and wanted[anchor] not in starts:
                starts[wanted[anchor]] = number
    if len(starts) != len(wanted):
        raise RuntimeError(f"documents without a first page: {sorted(set(wanted.values()) - set(starts), key=str)}")
    ordered = sorted(starts.items(), key=lambda item: item[1]) + [(None, len(document.pages))]
    for (key, first), (_, following) in pairwise(ordered):
        part = document.copy(document.pages[first:following])
        part.metadata = copy.copy(document.metadata)
        part.metadata.title = titles[key]
        yield key, part.write_pdf()


# --- invoices: what each bill says -----------------------------------------------------------
@dataclass
class Figures:
    """The account as it stood when the bill was issued."""

    previous_balance: Decimal = Decimal("0.00")
    payments: Decimal = Decimal("0.00")
    other: Decimal = Decimal("0.00")
    this_bill: Decimal = Decimal("0.00")
    amount_due: Decimal = Decimal("0.00")


# Each entry of the client up to the bill's own last entry falls in one part: before (and at)
# the previous bill's own entries, or the opening balance: previous balance; the bill's own
# entries (charges, penalty, estimate correction; not later credit notes): this bill; payments
# and their reversals; anything else in between (credit notes, adjustments): other.
_FIGURES_SQL = """
WITH own AS (
    SELECT e.invoice_id AS id, min(e.client_id) AS client_id, min(e.id) AS lo, max(e.id) AS hi
    FROM billing_ledgerentry e
    WHERE e.invoice_id = ANY(%(ids)s) AND e.kind <> 'credit_note'
    GROUP BY e.invoice_id
), bounds AS (
    SELECT o.*, coalesce((SELECT max(p.id) FROM billing_ledgerentry p
                          WHERE p.client_id = o.client_id AND p.id < o.lo AND p.invoice_id IS NOT NULL
                            AND p.kind <> 'credit_note'), 0) AS previous_hi
    FROM own o
)
SELECT b.id, x.part, sum(x.amount)
FROM bounds b
CROSS JOIN LATERAL (
    SELECT e.amount,
           CASE WHEN e.id <= b.previous_hi OR e.kind = 'opening_balance' THEN 'previous_balance'
                WHEN e.invoice_id = b.id AND e.kind <> 'credit_note' THEN 'this_bill'
                WHEN e.kind = 'payment' OR r.kind = 'payment' THEN 'payments'
                ELSE 'other' END AS part
    FROM billing_ledgerentry e LEFT JOIN billing_ledgerentry r ON r.id = e.reverses_id
    WHERE e.client_id = b.client_id AND e.id <= b.hi
) x
GROUP BY b.id, x.part
"""

# The consumption of each bill's client over its last 12 issued periods, this one included (bills
# of a billing run: a one-off bill of charges measured no water).
_HISTORY_SQL = """
SELECT b.id, h.period, h.consumption, h.estimated
FROM billing_invoice b
CROSS JOIN LATERAL (
    SELECT h.period, h.consumption, h.estimated FROM billing_invoice h
    WHERE h.client_id = b.client_id AND h.status = 'issued' AND h.period <= b.period AND h.run_id IS NOT NULL
    ORDER BY h.period DESC LIMIT 12
) h
WHERE b.id = ANY(%(ids)s)
ORDER BY b.id, h.period
"""


def invoice_figures(ids: Sequence[int]) -> dict[int, Figures]:
    figures = {pk: Figures() for pk in ids}
    with connection.cursor() as cursor:
        cursor.execute(_FIGURES_SQL, {"ids": list(ids)})
        for pk, part, amount in cursor.fetchall():
            setattr(figures[pk], part, amount)
    for f in figures.values():
        f.amount_due = f.previous_balance + f.payments + f.other + f.this_bill
    return figures


def _consumption_chart(history: list[tuple[str, Decimal, bool]], current: str) -> dict[str, object]:
    """The client's last periods as bars (majismart.charts geometry), drawn with few SVG
    elements: one path for the actual periods, one for estimates, the current bar in the
    provider's colour; labels on the first and the current bar only."""
    chart = bar_chart([(date_format(date(int(p[:4]), int(p[5:]), 1), "M Y"), used) for p, used, _est in history],
                      height=CHART_HEIGHT)
    paths: dict[str, list[str]] = {"actual": [], "estimated": []}
    for bar, (period, _, estimated) in zip(chart["bars"], history, strict=True):  # type: ignore[call-overload]
        if period == current:
            chart["current"] = {"bar": bar, "estimated": estimated, "value_y": max(bar.y - 4, 11),
                                "middle": bar.x + bar.width / 2}
        elif bar.height:
            paths["estimated" if estimated else "actual"].append(
                f"M{bar.x:.1f} {bar.y:.1f}h{bar.width:.1f}v{bar.height:.1f}h-{bar.width:.1f}z")
    chart["actual_path"], chart["estimated_path"] = " ".join(paths["actual"]), " ".join(paths["estimated"])
    chart["first"] = chart["bars"][0] if len(history) > 1 else None  # type: ignore[index]
    chart["any_estimated"] = any(estimated for _, _, estimated in history)
    return chart


def invoice_histories(ids: Sequence[int]) -> dict[int, list[tuple[str, Decimal, bool]]]:
    history: dict[int, list[tuple[str, Decimal, bool]]] = {pk: [] for pk in ids}
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, {"ids": list(ids)})
        for pk, period, used, estimated in cursor.fetchall():
            history[pk].append((period, used, estimated))
    return history


def _period_label(period: str) -> str:
    return date_format(date(int(period[:4]), int(period[5:]), 1), "F Y")  # in the active (the client's) language


@dataclass
class Bill:
    """Everything one issued invoice prints, gathered for a whole batch in a fixed number of
    queries (invoice_data)."""

    invoice: Invoice
    lines: list
    meter_rows: list
    figures: Figures
    history: list[tuple[str, Decimal, bool]]

    @property
    def client(self) -> Client:
        return self.invoice.client

    def facts(self) -> invoice_form.Facts:
        return invoice_form.Facts(self.invoice.period, self.invoice.issued_on, self.invoice.due_date)


def invoice_data(ids: Sequence[int]) -> list[Bill]:
    invoices = list(Invoice.objects.filter(pk__in=ids, status=Invoice.Status.ISSUED)
                    .select_related("client", "client__zone", "category", "tariff")
                    .prefetch_related("lines", "meters").order_by("number"))
    found = [i.pk for i in invoices]
    figures, histories = invoice_figures(found), invoice_histories(found)
    return [Bill(invoice, list(invoice.lines.all()), list(invoice.meters.all()), figures[invoice.pk],
                 histories[invoice.pk]) for invoice in invoices]


def invoice_sections(ids: Sequence[int], head: Letterhead) -> list[tuple[Invoice, SafeString]]:
    """Each issued invoice among `ids` as its section of the flowing template (bills longer
    than the form: more meters or charge lines than it has rows for)."""
    return [(b.invoice, _flowing_section(b, head)) for b in invoice_data(ids)]


def _flowing_section(b: Bill, head: Letterhead) -> SafeString:
    with override(chosen_or_default(b.client.language)):  # each bill in its client's language
        return _flowing_html(b, head)


def _flowing_html(b: Bill, head: Letterhead) -> SafeString:
    return render_to_string("pdf/invoice.html", {
        "invoice": b.invoice, "client": b.client, "head": head, "key": b.invoice.pk, "kind": "invoice",
        "lines": b.lines, "meter_rows": b.meter_rows, "period_label": _period_label(b.invoice.period),
        "figures": b.figures, "chart": _consumption_chart(b.history, b.invoice.period)})


def bill_layer(b: Bill, head: Letterhead) -> list:
    return invoice_form.layer(invoice=b.invoice, client=b.client, lines=b.lines, meter_rows=b.meter_rows,
                              figures=b.figures, history=b.history, color=head.color,
                              account_at=invoice_form.account_position(head))


def bill_alone_pdf(b: Bill, head: Letterhead, fetcher: DocumentFetcher) -> bytes:
    """A form bill rendered by one WeasyPrint call of its own, frame and layer as one page of
    HTML: what each bill would cost without stamping (bench/pdf.py's baseline, and the tests'
    check that both ways print the same)."""
    return render_pdf(invoice_form.frame_html(head=head, facts=b.facts(), layer_items=bill_layer(b, head)), fetcher)


def _stamped(bills: list[Bill], head: Letterhead, fetcher: DocumentFetcher) -> Iterator[tuple[Bill, bytes]]:
    """Bills of the same period and dates: their frame laid out once, each layer stamped on it."""
    layers = [bill_layer(b, head) for b in bills]
    fonts = pdfstamp.Fonts.for_layers(layers)
    html = invoice_form.frame_html(head=head, facts=bills[0].facts())
    frame = pdfstamp.Frame.of(HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf(uncompressed_pdf=True),
                              fonts)
    for b, items in zip(bills, layers, strict=True):
        yield b, frame.document(pdfstamp.draw(items, fonts, frame.page_height), title=gettext("Invoice %(number)s") % {"number": b.invoice.number},
                                author=head.name)


# --- invoices: stored files --------------------------------------------------------------------
class DocumentUnavailable(Exception):
    """A draft (or unknown) invoice has no PDF: only issued invoices are documents."""


def invoice_pdf_path(invoice: Invoice) -> str:
    """The storage name, e.g. invoices/2026-10/INV-2026-000123.pdf (under MEDIA_ROOT/<schema>/)."""
    if invoice.status != Invoice.Status.ISSUED or not invoice.number:
        raise DocumentUnavailable(f"invoice {invoice.pk} is not issued")
    return f"invoices/{invoice.period}/{invoice.number}.pdf"


def _store(name: str, pdf: bytes) -> None:
    saved = default_storage.save(name, ContentFile(pdf))
    if saved != name:
        # Another worker stored the same bill first (the storage never overwrites): keep one.
        default_storage.delete(saved)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def invoices_render(invoice_ids: Iterable[int]) -> int:
    """Render and store the PDFs of the issued invoices among `invoice_ids` not stored yet;
    returns how many were stored. Idempotent. Bills that fit the form are stamped on a frame
    laid out once per STAMP_BATCH bills of the same period; longer ones (and every bill, should
    the machine lack DejaVu Sans) go through the flowing template, LAYOUT_BATCH per pass."""
    pending = [pk for pk, period, number in Invoice.objects.filter(
        pk__in=list(invoice_ids), status=Invoice.Status.ISSUED).values_list("pk", "period", "number").order_by("pk")
        if not default_storage.exists(f"invoices/{period}/{number}.pdf")]
    if not pending:
        return 0
    provider = current_provider()
    fetcher = DocumentFetcher(provider)
    head = letterhead(provider, fetcher)
    stored = 0
    for chunk in _chunks(pending, STAMP_BATCH):
        bills = invoice_data(chunk)
        flowing = [b for b in bills if not invoice_form.fits(b.meter_rows, b.lines)]
        groups: dict[tuple, list[Bill]] = {}
        for b in bills:
            if invoice_form.fits(b.meter_rows, b.lines):
                # One frame per language too: its labels are in the clients' language.
                groups.setdefault((b.invoice.period, b.invoice.issued_on, b.invoice.due_date,
                                   chosen_or_default(b.client.language)), []).append(b)
        for (*_dates, language), group in groups.items():
            try:
                with override(language):
                    made = list(_stamped(group, head, fetcher))
            except pdfstamp.StampUnavailable as exc:
                log.warning("bills rendered without stamping: %s", exc)
                flowing += group
                continue
            for b, pdf in made:
                _store(invoice_pdf_path(b.invoice), pdf)
                stored += 1
        stored += _render_flowing(sorted(flowing, key=lambda b: b.invoice.number or ""), head, fetcher)
    return stored


def _render_flowing(bills: list[Bill], head: Letterhead, fetcher: DocumentFetcher) -> int:
    stored = 0
    for start in range(0, len(bills), LAYOUT_BATCH):
        part = bills[start:start + LAYOUT_BATCH]
        by_key = {b.invoice.pk: b.invoice for b in part}
        html = document_html([_flowing_section(b, head) for b in part], head, title=f"{head.name} bills")
        for key, pdf in render_pdfs(html, {pk: f"Invoice {i.number}" for pk, i in by_key.items()}, fetcher):
            _store(invoice_pdf_path(by_key[cast(int, key)]), pdf)  # the keys we gave: invoice ids
            stored += 1
    return stored


def invoice_pdf(invoice: Invoice, *, render_if_missing: bool = True) -> bytes:
    """The stored PDF of an issued invoice, rendered and stored first when missing (or
    FileNotFoundError without `render_if_missing`)."""
    name = invoice_pdf_path(invoice)
    if not default_storage.exists(name):
        if not render_if_missing:
            raise FileNotFoundError(name)
        invoices_render([invoice.pk])
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def invoice_attachment(invoice_id: int) -> tuple[str, bytes, str]:
    """The bill PDF for its email (notifications.services.ATTACHMENTS)."""
    invoice = Invoice.objects.get(pk=invoice_id)
    return f"{invoice.number}.pdf", invoice_pdf(invoice), "application/pdf"


def invoice_pdf_ready(invoice_id: int) -> bool:
    """Whether the batch renderer has stored the bill yet (its email waits for it)."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    return invoice is None or invoice.status != Invoice.Status.ISSUED or default_storage.exists(invoice_pdf_path(invoice))


# --- statements --------------------------------------------------------------------------------
def statement_pdf(client: Client, start: date | None = None, end: date | None = None) -> bytes:
    """The client's statement for [start, end] (everything by default), as the page shows it, in
    the client's language."""
    with override(chosen_or_default(client.language)):
        return _statement_pdf(client, start, end)


def _statement_pdf(client: Client, start: date | None, end: date | None) -> bytes:
    return single_document_pdf("pdf/statement.html", {
        "client": client, "statement": client_statement(client.pk, start=start, end=end),
        "key": f"statement-{client.pk}", "kind": "statement", "printed_on": timezone.localdate(),
    }, title=gettext("Statement %(account)s") % {"account": client.account_number})


def single_document_pdf(template: str, context: dict[str, object], *, title: str) -> bytes:
    """One document (a statement, a receipt) in the provider's letterhead and style."""
    provider = current_provider()
    fetcher = DocumentFetcher(provider)
    head = letterhead(provider, fetcher)
    return render_pdf(document_html([render_to_string(template, {**context, "head": head})], head, title=title), fetcher)


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    """A PDF as every page and API endpoint serves it: shown inline, never cached on the way."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{re.sub(r"[^A-Za-z0-9._-]", "-", filename)}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
