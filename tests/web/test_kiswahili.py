"""Kiswahili throughout (issue 21): every portal, public, auth and pay-link page in both
languages with `<html lang>` to match; the language a person reads (their own choice, else the
provider's default; before login the switch or the browser's Accept-Language); bills, receipts
and statements printed in the client's language; SMS and email in the recipient's language, the
provider's own wording per language; and a catalogue that fails the suite while any string marked
for translation (templates or Python) has no Kiswahili."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.storage import storages
from django.db import connection
from django.test import Client as Http
from django.utils import translation
from django_tenants.utils import tenant_context

from accounts.models import User
from billing.documents import statement_pdf
from billing.models import Invoice
from clients.models import Client
from majismart import catalogues
from notifications.catalog import EVENTS, SAMPLE
from notifications.models import Message, MessageTemplate
from notifications.text import fill, sms_size
from payments.collect import pay_link_url
from payments.documents import receipt_pdf
from payments.models import Payment
from payments.services import payment_record
from tenants.models import Provider
from tests.billing_helpers import NBO, D, billed_twice, metered, read, travel
from tests.conftest import host_of, login
from tests.notifications_helpers import committed, sms_ready
from tests.payments_helpers import mpesa_ready

PORTAL_PAGES = ["/portal/", "/portal/usage/", "/portal/reading/", "/portal/statement/", "/portal/bills/",
                "/portal/pay/", "/portal/plan/", "/portal/payments/", "/portal/requests/", "/portal/messages/",
                "/portal/privacy/"]


def html_lang(response) -> str:  # type: ignore[no-untyped-def]
    return re.search(rb'<html lang="([a-z]+)">', response.content).group(1).decode()


def signed_in(email: str, **headers: str) -> Http:
    http = Http(HTTP_HOST=host_of("alpha"), **headers)
    assert login(http, email).status_code == 302
    return http


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Stored bill PDFs in this test's own folder: invoice numbers come round again after rollback."""
    settings.MEDIA_ROOT = tmp_path
    storages["default"].__dict__.pop("relative_media_root", None)
    yield tmp_path
    storages["default"].__dict__.pop("relative_media_root", None)


@pytest.fixture
def carol(tenant) -> Client:  # type: ignore[no-untyped-def]
    """Carol's water account (two bills, a cash payment), her language not chosen yet."""
    mpesa_ready()
    client = billed_twice("Carol Chebet")
    client.user = User.objects.get(email="carol@alpha.test")
    client.save(update_fields=["user"])
    payment_record(method="cash", receipt="CASH-0042", amount=D("300.00"), client=client,
                   paid_at=datetime(2026, 11, 10, 12, tzinfo=NBO))
    return client


def speak(client: Client, language: str) -> None:
    client.language = language
    client.save(update_fields=["language"])


def provider_default(slug: str, language: str) -> None:
    Provider.objects.filter(slug=slug).update(language=language)


# --- the catalogue -------------------------------------------------------------------------------
def test_every_string_marked_for_translation_has_its_kiswahili() -> None:
    found = catalogues.marked_strings()
    assert len(found) > 500  # templates and Python both reached
    assert any(where.startswith("templates/portal/") for places in found.values() for where in places)
    assert any(where.endswith(".py") for places in found.values() for where in places)
    missing = catalogues.untranslated("sw", found)
    assert not missing, "No Kiswahili for:\n" + "\n".join(missing)


def test_each_translation_keeps_its_placeholders() -> None:
    import polib

    po = polib.pofile(str(catalogues.LOCALE_DIR / "sw" / "LC_MESSAGES" / "django.po"))
    for entry in po:
        for pattern in (r"%\(\w+\)s", r"\{\w+\}"):
            said, kept = set(re.findall(pattern, entry.msgid)), set(re.findall(pattern, entry.msgstr))
            # A plural's "s" (pluralize) has no place in Kiswahili; nothing else may be dropped.
            assert kept <= said and not (said - kept - {"%(bars2)s"}), entry.msgid


def test_a_marked_string_without_kiswahili_is_reported(tmp_path: Path) -> None:
    page, code = tmp_path / "page.html", tmp_path / "views.py"
    page.write_text('<h1>{% translate "My account" %}</h1>{% blocktranslate with n=x %}Water for {{ n }} only'
                    '{% endblocktranslate %}<p title="{% translate "A tap nobody translated" %}"></p>')
    code.write_text('from django.utils.translation import gettext as _\nMSG = _("Balance")\n'
                    'OTHER = _("Meter %(serial)s has no Kiswahili") % {"serial": "M1"}\n')
    found = catalogues.marked_strings([page, code])
    assert set(found) == {("", "My account"), ("", "Water for %(n)s only"), ("", "A tap nobody translated"),
                          ("", "Balance"), ("", "Meter %(serial)s has no Kiswahili")}
    missing = catalogues.untranslated("sw", found)
    assert [m.split(" (")[0] for m in missing] == [
        "'A tap nobody translated'", "'Meter %(serial)s has no Kiswahili'", "'Water for %(n)s only'"]


def test_the_catalogue_is_compiled_by_the_projects_own_setup() -> None:
    from io import StringIO

    from django.core.management import call_command

    po = catalogues.LOCALE_DIR / "sw" / "LC_MESSAGES" / "django.po"
    assert po.with_suffix(".mo").exists()  # the test session compiled it (devkit/pytest_plugin.py)
    assert catalogues.compile_all() == []  # up to date: nothing to redo
    out = StringIO()
    call_command("compile_catalogues", "--check", stdout=out)  # what `make run` runs; fails on a gap
    assert "catalogues up to date" in out.getvalue()
    with translation.override("sw"):
        assert translation.gettext("Balance") == "Salio" and translation.gettext("Pay") == "Lipa"


# --- before login: the browser, the switch, the provider's default ---------------------------------
def test_a_browser_asking_for_kiswahili_gets_it_before_login(alpha, public_client) -> None:  # type: ignore[no-untyped-def]
    for accept in ("sw", "sw-KE,sw;q=0.9,en;q=0.8"):
        landing = public_client.get("/", HTTP_ACCEPT_LANGUAGE=accept)
        assert html_lang(landing) == "sw" and "Toza kila tone, kusanya kila shilingi." in landing.content.decode()
        page = Http(HTTP_HOST=host_of("alpha")).get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=accept)
        assert html_lang(page) == "sw" and "Umesahau nenosiri?" in page.content.decode()
    english = public_client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert html_lang(english) == "en" and "Bill every drop, collect every shilling." in english.content.decode()
    assert html_lang(public_client.get("/")) == "en"  # nothing asked: English


@pytest.mark.parametrize(("path", "sw_words", "en_words"), [
    ("/", "Masharti ya huduma", "Terms of service"), ("/signup/", "Masharti ya huduma", "Terms of service"),
    ("/login/", "Masharti ya huduma", "Terms of service"), ("/privacy/", "Masharti ya huduma", "Terms of service"),
    ("/terms/", "Masharti ya huduma", "Terms of service"), ("/cookies/", "Vidakuzi", "Cookies")])
def test_every_public_page_renders_in_both_languages(public_client, path, sw_words, en_words) -> None:  # type: ignore[no-untyped-def]
    for accept, words in (("sw", sw_words), ("en", en_words)):
        page = public_client.get(path, HTTP_ACCEPT_LANGUAGE=accept)
        assert page.status_code == 200 and html_lang(page) == accept, path
        assert words in page.content.decode(), (path, accept)


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password-reset/", "/accounts/register/"])
def test_the_auth_pages_render_in_both_languages(alpha, path) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    sw, en = http.get(path, HTTP_ACCEPT_LANGUAGE="sw"), http.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert sw.status_code == en.status_code == 200, path
    assert (html_lang(sw), html_lang(en)) == ("sw", "en")
    assert "Kiswahili" in sw.content.decode() and "English" in en.content.decode()  # the switch, both ways
    assert sw.content != en.content


def test_the_language_switch_link_sets_the_language_before_login(alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"))
    page = http.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert 'href="/language/sw/?next=/accounts/login/"' in page.content.decode()
    switched = http.get("/language/sw/", {"next": "/accounts/login/"}, HTTP_ACCEPT_LANGUAGE="en")
    assert switched.status_code == 302 and switched["Location"] == "/accounts/login/"
    again = http.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")  # the cookie wins over the browser
    assert html_lang(again) == "sw" and "Ingia" in again.content.decode()
    assert http.get("/language/sw/", {"next": "https://evil.example/"})["Location"] == "/"
    assert http.get("/language/fr/").status_code == 404


def test_the_providers_default_language_serves_browsers_that_name_neither(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    provider_default("alpha", "sw")
    french = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9"}
    assert html_lang(Http(HTTP_HOST=host_of("alpha")).get("/accounts/login/", **french)) == "sw"
    assert html_lang(Http(HTTP_HOST=host_of("alpha")).get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")) == "en"
    # Another provider keeps its own default.
    assert html_lang(Http(HTTP_HOST=host_of("beta")).get("/accounts/login/", **french)) == "en"


# --- signed in: the person's own language ------------------------------------------------------------
def test_every_portal_page_renders_in_both_languages(carol) -> None:  # type: ignore[no-untyped-def]
    invoice = Invoice.objects.filter(client=carol).latest("period")
    payment = Payment.objects.get(receipt="CASH-0042")
    pages = [*PORTAL_PAGES, f"/portal/bills/{invoice.pk}/", f"/portal/payments/{payment.pk}/"]
    http = signed_in("carol@alpha.test")
    english = {path: http.get(path) for path in pages}
    speak(carol, "sw")
    for path in pages:
        sw, en = http.get(path), english[path]
        assert sw.status_code == en.status_code == 200, path
        assert (html_lang(sw), html_lang(en)) == ("sw", "en"), path
        text = sw.content.decode()
        assert "Akaunti yangu" in text and "Tuma usomaji wa mita" in text and "Ripoti tatizo" in text, path
        assert "Send a reading" not in text and "Report a problem" not in text, path
        assert "My account" in en.content.decode(), path
    home = http.get("/portal/").content.decode()
    assert "Salio la kulipa" in home and "KES 1,140.00" in home  # amounts stay "KES 1,234.00"
    bills = http.get("/portal/bills/").content.decode()
    assert "Tarehe ya mwisho ya kulipa" in bills and "Bili zangu" in bills


def test_a_client_chooses_kiswahili_in_the_portal_and_it_is_stored(carol) -> None:  # type: ignore[no-untyped-def]
    http = signed_in("carol@alpha.test", HTTP_ACCEPT_LANGUAGE="en")
    assert http.get("/language/sw/", {"next": "/portal/"}).status_code == 302
    carol.refresh_from_db()
    assert carol.language == ""  # a link changes no stored choice
    switched = http.post("/language/sw/", {"next": "/portal/usage/"})
    assert switched.status_code == 302 and switched["Location"] == "/portal/usage/"
    carol.refresh_from_db()
    assert carol.language == "sw"
    page = signed_in("carol@alpha.test", HTTP_ACCEPT_LANGUAGE="en").get("/portal/")  # another browser too
    assert html_lang(page) == "sw"


def test_a_clients_blank_language_follows_the_providers_default(carol) -> None:  # type: ignore[no-untyped-def]
    http = signed_in("carol@alpha.test", HTTP_ACCEPT_LANGUAGE="en")
    provider_default("alpha", "sw")
    assert html_lang(http.get("/portal/")) == "sw"
    speak(carol, "en")  # her own choice wins over the provider's default
    assert html_lang(http.get("/portal/")) == "en"


def test_staff_choose_their_language_on_their_profile(tenant) -> None:  # type: ignore[no-untyped-def]
    amos, alice = signed_in("amos@alpha.test", HTTP_ACCEPT_LANGUAGE="en"), signed_in("alice@alpha.test")
    assert amos.post("/dashboard/profile/language/", {"language": "sw"}).status_code == 302
    assert User.objects.get(email="amos@alpha.test").language == "sw"
    assert "Lugha yako imehifadhiwa." in amos.get("/dashboard/profile/").content.decode()
    dashboard = amos.get("/dashboard/")
    text = dashboard.content.decode()
    assert html_lang(dashboard) == "sw" and "Wateja" in text and "Mipangilio" in text and "Toka" in text
    assert html_lang(alice.get("/dashboard/")) == "en"  # only his own
    assert alice.post("/language/sw/", {"next": "/dashboard/"}).status_code == 302  # the sidebar's switch
    assert User.objects.get(email="alice@alpha.test").language == "sw"
    assert html_lang(alice.get("/dashboard/")) == "sw"
    assert amos.post("/dashboard/profile/language/", {"language": "xx"}).status_code == 400
    assert amos.post("/dashboard/profile/language/", {"language": ""}).status_code == 302  # back to the default
    assert html_lang(amos.get("/dashboard/")) == "en"


def test_the_owner_sets_the_providers_default_language(tenant) -> None:  # type: ignore[no-untyped-def]
    alice = signed_in("alice@alpha.test")
    form = alice.get("/dashboard/settings/branding/").content.decode()
    assert 'name="language"' in form
    saved = alice.post("/dashboard/settings/branding/", {"brand_color": "#0d7a5f", "language": "sw"})
    assert saved.status_code == 302
    assert Provider.objects.get(slug="alpha").language == "sw"
    assert Provider.objects.get(slug="beta").language == "en"


# --- the pay link ------------------------------------------------------------------------------------
def test_the_pay_link_page_renders_in_both_languages(carol) -> None:  # type: ignore[no-untyped-def]
    path = re.sub(r"^https?://[^/]+", "", pay_link_url(carol))
    with travel("2026-11-23"):
        en = Http(HTTP_HOST=host_of("alpha")).get(path, HTTP_ACCEPT_LANGUAGE="en")
        sw = Http(HTTP_HOST=host_of("alpha")).get(path, HTTP_ACCEPT_LANGUAGE="sw")
    assert en.status_code == sw.status_code == 200
    assert html_lang(en) == "en" and "Pay your water bill" in en.content.decode()
    text = sw.content.decode()
    assert html_lang(sw) == "sw" and "Lipa bili yako ya maji" in text and "Lipa kwa M-Pesa" in text
    assert "KES 1,140.00" in text


# --- documents ---------------------------------------------------------------------------------------
def pdf_text(pdf: bytes) -> str:
    done = subprocess.run(["/usr/bin/pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)  # noqa: S603
    return " ".join(done.stdout.decode().split())


def test_bill_receipt_and_statement_print_their_labels_in_the_clients_language(carol) -> None:  # type: ignore[no-untyped-def]
    speak(carol, "sw")
    invoice = Invoice.objects.filter(client=carol).latest("period")
    http = signed_in("carol@alpha.test")
    bill = pdf_text(http.get(f"/portal/bills/{invoice.pk}/pdf/").content)
    for words in ("Bili ya maji", "Ankara", "Kipindi", "Oktoba 2026", "Kiasi kinachodaiwa", "Usomaji wa mita",
                  "Tarehe ya mwisho ya kulipa", "Salio la awali", "Jinsi ya kulipa", "Akaunti", "KES 1,440.00"):
        assert words in bill, (words, bill)
    assert "Water bill" not in bill and "Amount due" not in bill
    receipt = pdf_text(receipt_pdf(Payment.objects.get(receipt="CASH-0042")))
    assert "Risiti ya malipo" in receipt and "Kiasi kilichopokelewa" in receipt and "KES 300.00" in receipt
    statement = pdf_text(statement_pdf(carol))
    assert "Taarifa ya akaunti" in statement and "Maingizo" in statement and "Salio" in statement
    # Staff downloading it get the client's language too (staff reading English or not).
    staff_copy = pdf_text(signed_in("alice@alpha.test").get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/").content)
    assert "Bili ya maji" in staff_copy
    speak(carol, "en")
    english = pdf_text(statement_pdf(carol))
    assert "Statement" in english and "Entries" in english and "Taarifa ya akaunti" not in english


# --- SMS and email -----------------------------------------------------------------------------------
@pytest.fixture
def two_clients(tenant, at) -> tuple[Client, Client]:  # type: ignore[no-untyped-def]
    """Two clients billed September, with phones and emails: Wanjiru reads Kiswahili, Otieno English."""
    sms_ready()
    mpesa_ready()
    made = []
    for name, phone, email, language in (("Wanjiru Kamau", "+254712345678", "wanjiru@example.com", "sw"),
                                         ("Otieno Ouma", "+254722345678", "otieno@example.com", "")):
        client, meter = metered(name)
        client.phone, client.email, client.language = phone, email, language
        client.save()
        read(meter, "0", "2026-08-31")
        read(meter, "10", "2026-09-30")
        made.append(client)
    return made[0], made[1]


def finalize_september() -> None:
    from billing.runs import billing_run_finalize, billing_run_start

    with travel("2026-10-02"), committed():
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])


def test_a_kiswahili_client_is_sent_the_kiswahili_bill(two_clients, at) -> None:  # type: ignore[no-untyped-def]
    wanjiru, otieno = two_clients
    finalize_september()
    sent = {m["number"]: m["message"] for m in at.wait_for_messages(2)}
    sw, en = sent[wanjiru.phone], sent[otieno.phone]
    assert sw.startswith("Alpha Water: bili ya Sep 2026 KES 500.00, lipa kufikia 16 Okt 2026. Paybill 174379 Acc "), sw
    assert en.startswith("Alpha Water: Sep 2026 bill KES 500.00 due 16 Oct 2026. Paybill 174379 Acc "), en
    emails = {e.to[0]: e for e in mail.outbox}
    assert emails[wanjiru.email].subject == "Bili yako ya maji ya Sep 2026 kutoka Alpha Water: KES 500.00 kufikia 16 Okt 2026"
    assert emails[wanjiru.email].body.startswith("Mpendwa Wanjiru Kamau,")
    html = emails[wanjiru.email].alternatives[0][0]
    assert '<html lang="sw">' in html and "Imetumwa na MajiSmart kwa niaba ya Alpha Water" in html
    assert '<html lang="en">' in emails[otieno.email].alternatives[0][0]
    assert Message.objects.get(client_id=wanjiru.pk, channel="email").language == "sw"
    assert emails[otieno.email].subject.startswith("Your Sep 2026 water bill from Alpha Water")
    assert Message.objects.get(client_id=wanjiru.pk, channel="sms").segments == sms_size(sw).segments


def test_a_providers_kiswahili_wording_goes_to_kiswahili_clients_only(two_clients, at) -> None:  # type: ignore[no-untyped-def]
    wanjiru, otieno = two_clients
    amos = signed_in("amos@alpha.test")
    url = "/dashboard/messages/templates/invoice_issued/sms/"
    page = amos.get(url, {"language": "sw"}).content.decode()
    assert "{provider}: bili ya {period} {amount_due}" in page and 'data-testid="sms-counter"' in page
    assert "With sample values: " in page and " part" in page  # the counter counts the Kiswahili text
    too_long = amos.post(url, {"language": "sw", "body": "Habari {name}. " * 80, "save": "1"})
    assert too_long.status_code == 400 and "Keep an SMS to 6 parts" in too_long.content.decode()
    saved = amos.post(url, {"language": "sw", "body": "{provider}: Habari {name}! Lipa {amount_due} kufikia {due_date}.",
                            "save": "1"})
    assert saved.status_code == 302
    assert list(MessageTemplate.objects.values_list("language", flat=True)) == ["sw"]
    listing = amos.get("/dashboard/messages/templates/").content.decode()
    assert 'data-testid="template-invoice_issued-sms-sw"' in listing and "Habari Esther Njeri!" in listing
    finalize_september()
    sent = {m["number"]: m["message"] for m in at.wait_for_messages(2)}
    assert sent[wanjiru.phone] == "Alpha Water: Habari Wanjiru Kamau! Lipa KES 500.00 kufikia 16 Okt 2026."
    assert sent[otieno.phone].startswith("Alpha Water: Sep 2026 bill KES 500.00")  # English: the default


def test_every_default_kiswahili_sms_stays_short() -> None:
    # Kiswahili takes more words than English: at most two parts with the long sample values
    # (a 19-letter provider name, a full pay link), one for the receipt.
    for event in ("invoice_issued", "payment_received", "reminder_due", "overdue", "disconnection"):
        _, body = EVENTS[event].default("sms", "sw")
        assert body != EVENTS[event].sms and sms_size(fill(body, SAMPLE)).segments <= 2, event
    assert sms_size(fill(EVENTS["payment_received"].default("sms", "sw")[1], SAMPLE)).segments == 1


def test_messages_of_one_provider_follow_its_own_default(two_clients, at, beta) -> None:  # type: ignore[no-untyped-def]
    wanjiru, otieno = two_clients
    provider_default("alpha", "sw")
    otieno.language = ""
    otieno.save(update_fields=["language"])
    connection.tenant = Provider.objects.get(slug="alpha")  # the tenant row as a request would load it
    finalize_september()
    sent = {m["number"]: m["message"] for m in at.wait_for_messages(2)}
    assert "bili ya Sep 2026" in sent[otieno.phone]  # blank: the provider's default, Kiswahili
    with tenant_context(beta):
        assert Provider.objects.get(slug="beta").language == "en"


def test_a_report_acknowledged_in_the_clients_language(two_clients, at) -> None:  # type: ignore[no-untyped-def]
    from fieldwork.services import service_request_create

    wanjiru, otieno = two_clients
    with travel("2026-11-23"), committed():
        for client in (wanjiru, otieno):
            service_request_create(client=client, kind="leak", description="Bomba limepasuka", actor="test",
                                   channel="phone")
    sent = {m["number"]: m["message"] for m in at.wait_for_messages(2)}
    assert "tumepokea ripoti yako (bomba linavuja), kumb. SR-" in sent[wanjiru.phone], sent[wanjiru.phone]
    assert "we received your report (leak), ref SR-" in sent[otieno.phone], sent[otieno.phone]
