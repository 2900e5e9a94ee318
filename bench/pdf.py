"""Invoice PDFs for 2,000 bills: stamped on a frame laid out once per batch (what we ship) against one WeasyPrint call per bill (baseline).

A provider with a logo, its colours, address, KRA PIN and a paybill, and N clients (default
2,000) billed for twelve months (November 2025 to October 2026, most paying each bill, so the
bills carry a previous balance, payments and a 12-bar chart; some are estimates). October's
bills are rendered twice from the same page (billing/invoice_form.py), data and fetcher, both
stored:
- naive: the same few queries per chunk, then one `HTML(...).write_pdf()` per bill, the frame
  and the bill's layer as one page of HTML (billing.documents.bill_alone_pdf);
- batched: `billing.documents.invoices_render`: the frame laid out by WeasyPrint once per
  STAMP_BATCH bills, each bill's layer stamped over it (majismart.pdfstamp).
Both write every PDF through the provider's storage (a temporary MEDIA_ROOT). Printed: bills/s
and CPU seconds of each, the ratio (target >= 4x), a check that both made the same PDFs (one
page, the same text read back by pdftotext, the bill's own number and nobody else's), and,
with BENCH_PDF_BATCHES="50,100,400", the batched figure at other batch sizes on 400 bills.

Standalone: python bench/pdf.py [--invoices 2000]
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from _verdict import Verdict
from django.db import connection

N = int(os.environ.get("BENCH_PDF_INVOICES", "2000"))
INTERLEAVE = 200
REFERENCE = 200
BATCHES = [int(b) for b in os.environ.get("BENCH_PDF_BATCHES", "").split(",") if b.strip()]
NAIROBI = ZoneInfo("Africa/Nairobi")
PERIODS = [f"{2025 + (10 + k) // 12}-{(10 + k) % 12 + 1:02d}" for k in range(12)]  # 2025-11 ... 2026-10
D = Decimal


def _logo() -> bytes:
    """A 480x160 PNG with some detail (a real logo is rarely a flat colour)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 160), "#ffffff")
    draw = ImageDraw.Draw(image)
    for i in range(0, 480, 12):
        draw.ellipse((i, 40 + (i % 50), i + 40, 80 + (i % 50)), fill=(17, 112 - i % 90, 173 - i % 60))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _brand(provider) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    from payments.models import PaymentSettings
    from tenants.services import provider_branding_update

    provider_branding_update(
        provider=provider, actor="bench", logo=SimpleUploadedFile("logo.png", _logo()),
        address="P.O. Box 90420-80100\nNkrumah Road, Mombasa", kra_pin="P051234567X", brand_color="#0d7a5f",
        website="https://bench-water.example", contact_email="care@bench-water.example",
        contact_phone="0712345678")
    cfg = PaymentSettings.load()
    cfg.mpesa_shortcode = "600966"
    cfg.save()


def _bill_the_year(n: int) -> None:
    """Twelve monthly runs, each billed on the 2nd of the next month; ~85% pay on the 10th."""
    import billing_run as seed  # bench/billing_run.py: clients, meters, tariffs, readings

    from billing.runs import billing_run_finalize, billing_run_start

    seed._seed(n)
    previous = None
    for period in PERIODS:
        seed._record_readings(period, previous)
        with seed._travel(seed._billing_day(period)):
            billing_run_finalize(run=billing_run_start(period=period, actor="bench")[0], actor="bench")
        paid_on = seed._billing_day(period).date() + timedelta(days=8)
        with connection.cursor() as cursor:
            cursor.execute(seed._PAYMENTS_SQL, {"period": period, "day": paid_on,
                                                "at": datetime.combine(paid_on, datetime.min.time(), tzinfo=NAIROBI)})
        previous = period


def _naive(ids: list[int]) -> None:
    """The baseline: the same data and page, one WeasyPrint call per bill (frame and layer as
    one page of HTML, billing.documents.bill_alone_pdf)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from billing import documents

    provider = documents.current_provider()
    fetcher = documents.DocumentFetcher(provider)
    head = documents.letterhead(provider, fetcher)
    for start in range(0, len(ids), documents.STAMP_BATCH):
        for b in documents.invoice_data(ids[start:start + documents.STAMP_BATCH]):
            pdf = documents.bill_alone_pdf(b, head, fetcher)
            default_storage.save(f"naive/{b.invoice.period}/{b.invoice.number}.pdf", ContentFile(pdf))


def _flowing_naive(ids: list[int]) -> None:
    """For reference: the long (flowing) template, one WeasyPrint call per bill."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from billing import documents

    provider = documents.current_provider()
    fetcher = documents.DocumentFetcher(provider)
    head = documents.letterhead(provider, fetcher)
    for invoice, section in documents.invoice_sections(ids, head):
        pdf = documents.render_pdf(documents.document_html([section], head, title=f"Invoice {invoice.number}"), fetcher)
        default_storage.save(f"flowing/{invoice.period}/{invoice.number}.pdf", ContentFile(pdf))


def _timed(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def _text(path: str) -> str:
    return subprocess.run(["/usr/bin/pdftotext", "-layout", path, "-"],  # noqa: S603 - poppler, our own file
                          capture_output=True, check=True, text=True).stdout


def _pages(path: str) -> int:
    info = subprocess.run(["/usr/bin/pdfinfo", path],  # noqa: S603 - poppler, our own file
                          capture_output=True, check=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _same_pdfs(numbers: list[str], period: str) -> str:
    """Both ways made one one-page PDF per bill carrying its own number and no other bill's."""
    from django.core.files.storage import default_storage

    checked = 0
    sample = numbers[:: max(len(numbers) // 25, 1)]
    for number in sample:
        texts = []
        for folder in ("invoices", "naive"):
            path = default_storage.path(f"{folder}/{period}/{number}.pdf")
            assert _pages(path) == 1, path
            text = _text(path)
            assert number in text and "KES" in text and "600966" in text, path
            assert sum(other in text for other in sample) == 1, path
            texts.append(text)
        assert texts[0] == texts[1], number
        checked += 1
    return f"checked {checked} bills: one page each, the same text both ways, only their own number"


def run() -> Iterator[str]:
    from django.conf import settings
    from django.core.files.storage import default_storage, storages
    from django_tenants.utils import tenant_context

    from billing import documents
    from billing.models import Invoice
    from billing.receivers import queue_invoice_pdfs
    from billing.signals import billing_run_finalized
    from tenants.models import Provider
    from tenants.services import provider_create

    for name in ("celery.app.trace", "kombu.connection", "weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    media = tempfile.mkdtemp(prefix="bench-pdf-")
    settings.MEDIA_ROOT = media
    storages["default"].__dict__.pop("relative_media_root", None)  # TenantFileSystemStorage caches it
    # The set-up's twelve runs must not render their bills as they are finalised.
    billing_run_finalized.disconnect(queue_invoice_pdfs)
    slug = "bench-pdf"
    provider = provider_create(name="Bench Water Services", slug=slug, owner_email="o@bench.test",
                               owner_password="bench-password-1").provider
    try:
        with tenant_context(provider):
            started = time.perf_counter()
            _brand(provider)
            _bill_the_year(N)
            invoices = list(Invoice.objects.filter(period=PERIODS[-1]).order_by("number").values_list("pk", "number"))
            ids, numbers = [pk for pk, _ in invoices], [number for _, number in invoices]
            estimated = Invoice.objects.filter(period=PERIODS[-1], estimated=True).count()
            yield (f"bills: {len(ids):,} for {PERIODS[-1]} ({estimated} estimated), clients billed for "
                   f"{len(PERIODS)} months; set-up {time.perf_counter() - started:.1f} s (untimed)")
            documents.invoices_render(ids[:3])  # warm up both ways alike: imports, fonts, templates
            _naive(ids[:3])
            for folder in ("invoices", "naive"):
                shutil.rmtree(default_storage.path(folder), ignore_errors=True)
            # The two ways alternate, 200 bills at a time, so a slower or faster spell of a shared
            # machine falls on both alike.
            naive_wall = naive_cpu = batched_wall = batched_cpu = 0.0
            for n, start in enumerate(range(0, len(ids), INTERLEAVE)):
                chunk = ids[start:start + INTERLEAVE]
                for way in ((_naive, documents.invoices_render) if n % 2 == 0 else (documents.invoices_render, _naive)):
                    wall, cpu = _timed(way, chunk)
                    if way is _naive:
                        naive_wall, naive_cpu = naive_wall + wall, naive_cpu + cpu
                    else:
                        batched_wall, batched_cpu = batched_wall + wall, batched_cpu + cpu
            assert len(default_storage.listdir(f"invoices/{PERIODS[-1]}")[1]) == len(ids)
            ratio = naive_wall / batched_wall
            yield (f"naive (one HTML().write_pdf() per bill, baseline): {naive_wall:.1f} s, "
                   f"{len(ids) / naive_wall:.1f} bills/s (CPU {naive_cpu:.1f} s)")
            yield (f"batched (the frame laid out once per {documents.STAMP_BATCH} bills, each bill stamped on it): "
                   f"{batched_wall:.1f} s, {len(ids) / batched_wall:.1f} bills/s (CPU {batched_cpu:.1f} s)")
            yield Verdict("bill PDFs naive / batched", f"{ratio:.1f}x", ">= 4x", ratio >= 4,
                          f"ratio naive/batched: {ratio:.1f}x wall, {naive_cpu / batched_cpu:.1f}x CPU (target >= 4x: {ratio >= 4})")
            sample = ids[:REFERENCE]
            wall, _ = _timed(_flowing_naive, sample)
            yield (f"for reference, the long (flowing) template, one WeasyPrint call per bill: {len(sample) / wall:.1f} "
                   f"bills/s (first {len(sample)} bills); stamped is {len(ids) / batched_wall / (len(sample) / wall):.0f}x that")
            sizes = [os.path.getsize(default_storage.path(f"invoices/{PERIODS[-1]}/{n}.pdf")) for n in numbers]
            yield f"PDF size: median {sorted(sizes)[len(sizes) // 2] / 1024:.1f} KiB (logo and fonts embedded)"
            yield _same_pdfs(numbers, PERIODS[-1])
            default_batch = documents.STAMP_BATCH
            for size in BATCHES:
                documents.STAMP_BATCH = size
                shutil.rmtree(default_storage.path("invoices"), ignore_errors=True)
                wall, _ = _timed(documents.invoices_render, ids[:400])
                yield f"{size} bills per frame: {min(400, len(ids)) / wall:.1f} bills/s (first 400 bills)"
            documents.STAMP_BATCH = default_batch
    finally:
        billing_run_finalized.connect(queue_invoice_pdfs)
        connection.set_schema_to_public()
        Provider.objects.get(slug=slug).delete(force_drop=True)
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--invoices", type=int, default=N, help="bills (clients) rendered each way (default %(default)s)")
    args = parser.parse_args()
    os.environ["BENCH_PDF_INVOICES"] = str(args.invoices)
    # bench/run.py makes the scratch database, migrates it and runs this module by name.
    import run as bench_runner

    sys.argv = [sys.argv[0], "pdf"]
    bench_runner.main()
