"""majismart.pdfstamp on its own: fitting text, and a machine without DejaVu Sans (bills then
flow through WeasyPrint alone, slower, still one correct PDF each)."""

from __future__ import annotations

import pytest

from majismart import pdfstamp


def test_a_long_text_gets_smaller_then_cut() -> None:
    short, size = pdfstamp.fit("Mary Wanjiku", 11, 108, bold=True, min_size=7.5)
    assert (short, size) == ("Mary Wanjiku", 11)
    name = "Wanjiku Mary Njeri Kamau Otieno Achieng of Nyali Residents"
    smaller, size = pdfstamp.fit(name, 11, 108, bold=True, min_size=7.5)
    assert smaller == name and 7.5 <= size < 11 and pdfstamp.measure(name, size, bold=True) <= 108
    cut, size = pdfstamp.fit(name * 3, 11, 108, bold=True, min_size=7.5)
    assert size == 7.5 and cut.endswith("…") and pdfstamp.measure(cut, size, bold=True) <= 108
    assert pdfstamp.measure("KES 1,000.00", 9) == pytest.approx(pdfstamp.measure("KES 1,000.00", 18) / 2)


def test_fonts_hold_exactly_the_characters_a_batch_uses() -> None:
    layers = [[pdfstamp.Text(10, 10, "Wanjirũ 12"), pdfstamp.Text(10, 20, "KES", bold=True)]]
    fonts = pdfstamp.Fonts.for_layers(layers)
    assert set("Wanjirũ 12?…") <= set(fonts.regular.gids) and "K" not in fonts.regular.gids
    assert set("KES?…") <= set(fonts.bold.gids) and "W" not in fonts.bold.gids
    assert fonts.regular.glyphs("Z") == fonts.regular.glyphs("?")  # not in the subset: a question mark


@pytest.fixture
def no_dejavu(monkeypatch):  # type: ignore[no-untyped-def]
    """This machine as one without the DejaVu fonts (and without fc-match to find them)."""
    monkeypatch.setattr(pdfstamp, "FONT_DIRS", ())
    monkeypatch.setattr(pdfstamp.shutil, "which", lambda name: None)
    for cached in (pdfstamp._font_file, pdfstamp._advances):
        cached.cache_clear()
    yield
    for cached in (pdfstamp._font_file, pdfstamp._advances):
        cached.cache_clear()


def test_without_dejavu_bills_still_render_one_pdf_each(no_dejavu, tenant, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage, storages

    from billing import documents
    from billing.models import Invoice
    from tests.billing.test_documents import bill, flat, pages_of, text_of
    from tests.billing_helpers import metered, read

    settings.MEDIA_ROOT = tmp_path
    storages["default"].__dict__.pop("relative_media_root", None)
    with pytest.raises(pdfstamp.StampUnavailable):
        pdfstamp.Fonts.for_layers([[pdfstamp.Text(1, 1, "x")]])
    for k in range(2):
        _, meter = metered(f"Fallback Client {k}")
        read(meter, "0", "2026-09-30")
        read(meter, "7", "2026-10-31")
    bill("2026-10", "2026-11-02")
    invoices = list(Invoice.objects.filter(period="2026-10"))
    assert documents.invoices_render([i.pk for i in invoices]) == 2
    for invoice in invoices:
        with default_storage.open(documents.invoice_pdf_path(invoice)) as handle:
            pdf = handle.read()
        assert pages_of(pdf) == 1 and invoice.number in flat(text_of(pdf)) and "How to pay" in flat(text_of(pdf))
    storages["default"].__dict__.pop("relative_media_root", None)
