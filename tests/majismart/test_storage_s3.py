"""Stored files on S3-compatible object storage (majismart.storage.TenantS3Storage), against a
real S3 server the tests start (devkit/s3.py: moto's server mode over HTTP): every file lands
under its provider's prefix in the bucket, reaches users only through the permission-checked
views, never crosses to another provider, and erasure and retention remove the objects
themselves (the bucket is listed to prove it)."""

from __future__ import annotations

import io
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import SuspiciousOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Http
from django_tenants.utils import tenant_context

from accounts.models import User
from billing import documents
from billing.models import Invoice
from clients.models import Client
from devkit.testing import PYTHON, ROOT
from majismart.storage import TenantS3Storage
from majismart.uploads import purge_older_than
from meters.models import Meter, Reading
from payments.services import payment_record
from privacy.erasure import client_pseudonymise
from privacy.exports import export_build, export_request
from privacy.models import DataExport
from privacy.retention import retention_apply
from tests.billing_helpers import D, billed_twice, domestic_tariff, metered, on, read
from tests.conftest import host_of, login

BRANDING = {"address": "P.O. Box 1, Mombasa", "kra_pin": "P051234567X", "contact_email": "care@alpha.test",
            "contact_phone": "0712 345 678", "website": "https://alpha-water.example", "brand_color": "#0d7a5f"}


def png(colour: tuple[int, int, int] = (17, 112, 173)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (240, 80), colour).save(out, format="PNG")
    return out.getvalue()


def signed_in(slug: str, email: str) -> Http:
    http = Http(HTTP_HOST=host_of(slug))
    assert login(http, email).status_code == 302
    return http


def billed(name: str, user: User | None = None) -> tuple[Client, Meter]:
    """billed_twice's client (September and October issued) in the current schema, with its meter."""
    client = billed_twice(name)
    if user is not None:
        client.user = user
        client.save(update_fields=["user"])
    return client, client.meters.get()


def body(s3_server, bucket: str, key: str) -> bytes:  # type: ignore[no-untyped-def]
    return s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_the_default_storage_is_the_tenant_s3_storage_with_productions_settings(s3_bucket, tenant) -> None:  # type: ignore[no-untyped-def]
    default_storage.exists("x")  # wraps it
    storage = default_storage._wrapped  # noqa: SLF001
    assert isinstance(storage, TenantS3Storage)
    assert (storage.location, storage.default_acl, storage.file_overwrite, storage.querystring_auth) == (
        "alpha", "private", False, True)
    # A signed URL that expires in minutes: the one kind of URL the storage ever gives out.
    url = default_storage.url("invoices/2026-10/x.pdf")
    assert f"/{s3_bucket}/alpha/invoices/2026-10/x.pdf?" in url and "X-Amz-Signature=" in url
    assert "X-Amz-Expires=300" in url


def test_bill_pdfs_land_under_their_providers_prefix_and_only_its_people_download_them(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, tenant, beta) -> None:
    carol = User.objects.get(email="carol@alpha.test")
    client, _ = billed("Mary Wanjiku", user=carol)
    october = Invoice.objects.get(client=client, period="2026-10")
    with tenant_context(beta):
        domestic_tariff()
        beta_client, _ = billed("Beta Customer")
        beta_october = Invoice.objects.get(client=beta_client, period="2026-10")
        beta_pdf = documents.invoice_pdf(beta_october)  # rendered and stored in beta's schema
        beta_pks = set(Invoice.objects.values_list("pk", flat=True))
        beta_pdfs = {documents.invoice_pdf(i) for i in Invoice.objects.all()}
        beta_keys = [f"beta/invoices/{i.period}/{i.number}.pdf" for i in Invoice.objects.order_by("period")]
    alpha_pks = set(Invoice.objects.values_list("pk", flat=True))
    assert s3_server.keys(s3_bucket) == beta_keys and len(beta_pdfs) == 2

    # Alpha's bill: rendered on the first download by staff, stored under alpha/, then served as stored.
    anne = signed_in("alpha", "anne@alpha.test")
    response = anne.get(f"/dashboard/billing/invoices/{october.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    key = f"alpha/invoices/2026-10/{october.number}.pdf"
    assert s3_server.keys(s3_bucket, "alpha/") == [key]
    assert response.content == body(s3_server, s3_bucket, key) and response.content.startswith(b"%PDF")
    portal = signed_in("alpha", "carol@alpha.test").get(f"/portal/bills/{october.pk}/pdf/")
    assert portal.status_code == 200 and portal.content == response.content
    # The permission checks stay where they were: the views, not the bucket.
    assert signed_in("alpha", "ari@alpha.test").get(f"/dashboard/billing/invoices/{october.pk}/pdf/").status_code == 403
    anonymous = Http(HTTP_HOST=host_of("alpha")).get(f"/portal/bills/{october.pk}/pdf/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url

    # Beta: the same relative name (numbering is per provider) is beta's own object; its staff
    # get beta's bill whatever id they ask for, never alpha's bytes.
    assert beta_october.number == october.number
    bob = signed_in("beta", "bob@beta.test")
    own = bob.get(f"/dashboard/billing/invoices/{beta_october.pk}/pdf/")
    assert own.status_code == 200 and own.content == beta_pdf != response.content
    for pk in alpha_pks:  # ids are per schema: an id of alpha's is beta's own bill or nothing
        got = bob.get(f"/dashboard/billing/invoices/{pk}/pdf/")
        assert got.status_code == 404 if pk not in beta_pks else got.content in beta_pdfs
    with tenant_context(beta):
        assert default_storage.open(f"invoices/2026-10/{october.number}.pdf").read() == beta_pdf
        with pytest.raises(SuspiciousOperation):  # no name reaches above the provider's prefix
            default_storage.open(f"../alpha/invoices/2026-10/{october.number}.pdf")
    assert response.content not in beta_pdfs
    assert s3_server.keys(s3_bucket, "alpha/") == [key]  # beta's downloads stored nothing of alpha's


def test_a_logo_and_a_reading_photo_are_stored_and_served_under_the_providers_prefix(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, tenant, django_capture_on_commit_callbacks) -> None:
    alice = signed_in("alpha", "alice@alpha.test")
    logo = png()
    saved = alice.post("/dashboard/settings/branding/", {**BRANDING, "logo": SimpleUploadedFile("brand.png", logo, content_type="image/png")})
    assert saved.status_code == 302
    tenant.refresh_from_db()
    logo_key = f"alpha/{tenant.logo.name}"
    assert tenant.logo.name.startswith("branding/logo-") and s3_server.keys(s3_bucket) == [logo_key]
    served = alice.get("/branding/logo/")
    assert served.status_code == 200 and b"".join(served.streaming_content) == logo == body(s3_server, s3_bucket, logo_key)
    assert Http(HTTP_HOST=host_of("alpha")).get("/branding/logo/").status_code == 404
    # A new logo replaces the old object once the change commits: no orphan left in the bucket.
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.post("/dashboard/settings/branding/", {**BRANDING, "logo": SimpleUploadedFile("new.png", png((200, 10, 10)), content_type="image/png")}).status_code == 302
    tenant.refresh_from_db()
    assert s3_server.keys(s3_bucket) == [f"alpha/{tenant.logo.name}"] != [logo_key]

    # A client's own reading with a photo of the dial, then the reviewer's view of it.
    client, meter = metered("Photo Client")
    client.user = User.objects.get(email="carol@alpha.test")
    client.save(update_fields=["user"])
    read(meter, "5", "2026-11-01")
    photo = png((1, 2, 3))
    carol = signed_in("alpha", "carol@alpha.test")
    posted = carol.post("/portal/reading/", {"meter": meter.pk, "value": "9",
                                             "photo": SimpleUploadedFile("dial.png", photo, content_type="image/png")})
    assert posted.status_code == 302
    reading = Reading.objects.get(meter=meter, photo__startswith="readings/")
    photo_key = f"alpha/{reading.photo.name}"
    assert reading.photo.name.startswith("readings/") and photo_key in s3_server.keys(s3_bucket, "alpha/readings/")
    amos = signed_in("alpha", "amos@alpha.test")
    shown = amos.get(f"/dashboard/readings/{reading.pk}/photo/")
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert b"".join(shown.streaming_content) == photo == body(s3_server, s3_bucket, photo_key)
    assert carol.get(f"/dashboard/readings/{reading.pk}/photo/").status_code == 403
    bob = signed_in("beta", "bob@beta.test")
    assert bob.get(f"/dashboard/readings/{reading.pk}/photo/").status_code == 404


def test_erasure_removes_the_clients_objects_from_the_bucket_and_nobody_elses(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, tenant, django_capture_on_commit_callbacks) -> None:
    erased, erased_meter = billed("To Be Erased", user=User.objects.get(email="carol@alpha.test"))
    kept, _ = billed("Kept Client")
    for invoice in Invoice.objects.all():
        documents.invoice_pdf(invoice)
    photo = Reading.objects.filter(meter=erased_meter).latest("read_at")
    photo.photo.save("dial.png", ContentFile(png()), save=True)
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(client=erased, actor="test")
    export = export_build(export_id=export.pk) if export.status == DataExport.Status.PENDING else export
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY
    erased_keys = {f"alpha/invoices/{i.period}/{i.number}.pdf" for i in Invoice.objects.filter(client=erased)}
    erased_keys |= {f"alpha/{photo.photo.name}", f"alpha/{export.path}"}
    kept_keys = {f"alpha/invoices/{i.period}/{i.number}.pdf" for i in Invoice.objects.filter(client=kept)}
    assert set(s3_server.keys(s3_bucket)) == erased_keys | kept_keys and len(erased_keys) == 4
    # The client's own archive, streamed from the bucket by the portal to its owner only.
    download = signed_in("alpha", "carol@alpha.test").get(f"/portal/privacy/exports/{export.token}/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content) == body(s3_server, s3_bucket, f"alpha/{export.path}")
    assert signed_in("alpha", "anne@alpha.test").get(f"/portal/privacy/exports/{export.token}/").status_code in (403, 404)

    with django_capture_on_commit_callbacks(execute=True):
        record = client_pseudonymise(client=erased, actor="test")

    assert set(s3_server.keys(s3_bucket)) == kept_keys
    assert (record.counts["reading_photos"], record.counts["invoice_pdfs"], record.counts["exports"]) == (1, 2, 1)


def test_the_retention_purge_removes_the_objects_of_what_it_purges(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, tenant, django_capture_on_commit_callbacks) -> None:
    client, meter = billed("Paid Up")
    payment_record(method="cash", receipt="S3-RET-1", amount=D("500"), client=client, paid_at=on("2026-10-02", 10))
    september = Invoice.objects.get(client=client, period="2026-09")
    october = Invoice.objects.get(client=client, period="2026-10")
    for invoice in (september, october):
        documents.invoice_pdf(invoice)
    old, latest = Reading.objects.get(meter=meter, value=D("10")), Reading.objects.get(meter=meter, value=D("28"))
    for reading in (old, latest):
        reading.photo.save("dial.png", ContentFile(png()), save=True)
    default_storage.save("imports/clients-stale.csv", ContentFile(b"a,b\n"))
    keys = {f"alpha/invoices/2026-09/{september.number}.pdf", f"alpha/invoices/2026-10/{october.number}.pdf",
            f"alpha/{old.photo.name}", f"alpha/{latest.photo.name}", "alpha/imports/clients-stale.csv"}
    assert set(s3_server.keys(s3_bucket)) == keys

    now = datetime(2033, 10, 3, 12, 0, tzinfo=UTC)  # September 2026 is past 7 years, October not
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        run = retention_apply(now=now, actor="test")
        assert purge_older_than(hours=24) == 1  # kept uploads: listed and aged in the bucket too
    assert run.counts["invoices"] == 1 and run.counts["readings"] >= 1
    assert set(s3_server.keys(s3_bucket)) == {f"alpha/invoices/2026-10/{october.number}.pdf", f"alpha/{latest.photo.name}"}


# --- configuration ------------------------------------------------------------------------------
PROBE = """
import django; django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
connection.set_schema("gamma")  # no query: the storage only reads the schema's name
default_storage.exists("none")
print(type(default_storage._wrapped).__name__)
print(default_storage.save("probe/hello.txt", ContentFile(b"hello")))
"""


def _storage_process(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MAJISMART_TESTING", "AWS_", "STORAGE_"))}
    clean.update(DJANGO_SETTINGS_MODULE="majismart.settings.base", DEBUG="true", **env)
    return subprocess.run([PYTHON, "-c", PROBE], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60)  # noqa: S603


def test_storage_backend_s3_from_the_environment_with_file_secrets(s3_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devkit.s3 import ACCESS_KEY, SECRET_KEY

    bucket = "majismart-settings-probe"
    s3_server.client().create_bucket(Bucket=bucket)
    (tmp_path / "secret").write_text(SECRET_KEY + "\n")
    result = _storage_process(STORAGE_BACKEND="s3", AWS_STORAGE_BUCKET_NAME=bucket, AWS_S3_ENDPOINT_URL=s3_server.endpoint_url,
                              AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY_FILE=str(tmp_path / "secret"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TenantS3Storage", "probe/hello.txt"]
    assert s3_server.keys(bucket) == ["gamma/probe/hello.txt"]
    s3_server.client().delete_object(Bucket=bucket, Key="gamma/probe/hello.txt")
    s3_server.client().delete_bucket(Bucket=bucket)


def test_storage_settings_fail_loudly_and_default_to_the_filesystem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    no_bucket = _storage_process(STORAGE_BACKEND="s3")
    assert no_bucket.returncode != 0 and "needs AWS_STORAGE_BUCKET_NAME" in no_bucket.stderr
    unknown = _storage_process(STORAGE_BACKEND="ftp")
    assert unknown.returncode != 0 and "use filesystem or s3" in unknown.stderr
    local = _storage_process(MEDIA_DIR=str(tmp_path))
    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["TenantFileSystemStorage", "probe/hello.txt"]
    assert (tmp_path / "gamma" / "probe" / "hello.txt").read_bytes() == b"hello"


def test_erasing_a_closed_provider_leaves_nothing_under_its_prefix(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, alpha, django_capture_on_commit_callbacks) -> None:
    from privacy.provider import provider_close, provider_erase, records_kept_until
    from tenants.services import provider_branding_update, provider_create

    closing = provider_create(name="Closing Water", slug="closing-s3", owner_email="owner@closing.test",
                              owner_password="correct-horse-42", owner_name="Olive Owner").provider
    with tenant_context(closing), django_capture_on_commit_callbacks(execute=True):
        provider_branding_update(provider=closing, actor="test", logo=SimpleUploadedFile("logo.png", png()))
        default_storage.save("imports/clients-left.csv", ContentFile(b"a,b\n"))
        client, meter = metered("Closing Client")
        read(meter, "3", "2026-11-01")
        reading = Reading.objects.get(meter=meter, value=D("3"))
        reading.photo.save("dial.png", ContentFile(png()), save=True)
    with tenant_context(alpha):
        default_storage.save("imports/alphas-own.csv", ContentFile(b"a,b\n"))
    photo_key = f"closing-s3/{reading.photo.name}"
    assert len(s3_server.keys(s3_bucket, "closing-s3/")) == 3 and photo_key in s3_server.keys(s3_bucket)
    # Closing erases every client: their files go from the provider's prefix, though the
    # closing transaction commits after leaving the provider's schema.
    with django_capture_on_commit_callbacks(execute=True):
        provider_close(provider=closing, actor="root")
    assert photo_key not in s3_server.keys(s3_bucket) and len(s3_server.keys(s3_bucket, "closing-s3/")) == 2
    until = records_kept_until(closing)
    with django_capture_on_commit_callbacks(execute=True):
        provider_erase(provider=closing, actor="root", now=until + timedelta(days=1) if until else None)
    assert s3_server.keys(s3_bucket) == ["alpha/imports/alphas-own.csv"]  # the other provider's stay


def test_compose_runs_minio_and_the_app_stores_its_files_there() -> None:
    import re

    import yaml

    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    assert "healthcheck" in services["minio"] and "miniodata:/data" in services["minio"]["volumes"]
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    script = services["minio-init"]["command"][0]
    assert "mc mb --ignore-existing" in script and "mc anonymous set none" in script
    workers = [name for name in services if name.startswith("worker-")]
    assert workers  # one per queue group
    for name in ("migrate", "web", *workers, "beat"):
        env = services[name]["environment"]
        assert (env["STORAGE_BACKEND"], env["AWS_S3_ENDPOINT_URL"]) == ("s3", "http://minio:9000"), name
        assert {"AWS_STORAGE_BUCKET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), name
    assert services["migrate"]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    # Every value compose takes from `.env` is documented in .env.example.
    example = (ROOT / ".env.example").read_text()
    for name in set(re.findall(r"(?<!\$)\$\{(\w+)", text)):  # `$${X}` is the container's own variable
        assert re.search(rf"^#? ?{name}=", example, re.M), name


def test_a_logo_replaced_from_the_admin_goes_from_the_providers_prefix(  # type: ignore[no-untyped-def]
        s3_bucket, s3_server, alpha, django_capture_on_commit_callbacks) -> None:
    from tenants.services import provider_branding_update

    with tenant_context(alpha), django_capture_on_commit_callbacks(execute=True):
        first = provider_branding_update(provider=alpha, actor="test", logo=SimpleUploadedFile("a.png", png())).logo.name
    assert s3_server.keys(s3_bucket) == [f"alpha/{first}"]
    # web.admin saves in the provider's schema; the request's transaction commits in public.
    with django_capture_on_commit_callbacks(execute=True):
        with tenant_context(alpha):
            second = provider_branding_update(provider=alpha, actor="root", logo=SimpleUploadedFile("b.png", png((9, 9, 9)))).logo.name
    assert s3_server.keys(s3_bucket) == [f"alpha/{second}"]
