"""The audit log: what is recorded (with IP and user agent, never personal values), that it is
append-only in every schema, the retention purge, and the dashboard viewer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client as Http
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from accounts.models import AuditCategory, AuditEvent, User
from accounts.services import audit, audit_purge_before
from clients.models import Category, Client
from tests.conftest import ALPHA_PEOPLE, API_KEYS, PASSWORD, api_client, host_of, login

UA = "Mozilla/5.0 (Linux; Android 14) AuditTest/1.0"


def as_(persona: str, slug: str = "alpha", ip: str = "203.0.113.7") -> Http:
    http = Http(HTTP_HOST=host_of(slug), HTTP_USER_AGENT=UA, REMOTE_ADDR=ip)
    email = ALPHA_PEOPLE[persona].email if persona in ALPHA_PEOPLE else persona
    assert login(http, email).status_code == 302
    return http


def events(alpha, **filters: object) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        return list(AuditEvent.objects.filter(**filters).order_by("id"))


def raw_columns(alpha, pk: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with tenant_context(alpha), connection.cursor() as cursor:
        cursor.execute("SELECT ip, user_agent FROM accounts_auditevent WHERE id = %s", [pk])
        return cursor.fetchone()


@pytest.fixture
def wanjiru(alpha):  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        client = Client.objects.create(account_number="AU-001", full_name="Wanjiru Kamau", phone="+254711222333",
                                       email="wanjiru@example.com", category=Category.objects.get(code="domestic"))
    connection.set_schema_to_public()
    return client


def _no_personal_values(event: AuditEvent, *values: str) -> None:
    text = json.dumps([event.actor, event.object_repr, event.extra_data])
    for value in values:
        assert value not in text, (value, text)


# --- who is on the other end: IP address and user agent ---------------------------------------------
def test_it_records_ip_and_user_agent_encrypted_at_rest(alpha) -> None:  # type: ignore[no-untyped-def]
    as_("alice")
    login_event = events(alpha, action="auth.login")[-1]
    assert (login_event.actor, login_event.category, login_event.ip, login_event.user_agent) == (
        "alice@alpha.test", AuditCategory.AUTH, "203.0.113.7", UA)
    assert (login_event.target_type, login_event.target_id) == ("user", login_event.target_id)
    ip, agent = raw_columns(alpha, login_event.pk)
    assert ip.startswith("enc1:") and agent.startswith("enc1:") and "203.0.113.7" not in ip and "AuditTest" not in agent


def test_forwarded_for_counts_only_behind_a_trusted_proxy(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    spoofed = Http(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")
    login(spoofed, "amos@alpha.test")
    assert events(alpha, action="auth.login")[-1].ip == "10.0.0.5"  # no proxy trusted: the header is the caller's
    settings.TRUSTED_PROXY_COUNT = 1
    proxied = Http(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4")
    login(proxied, "amos@alpha.test")
    assert events(alpha, action="auth.login")[-1].ip == "198.51.100.4"


def test_outside_a_request_no_ip_is_recorded(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        event = audit(actor="billing job", action="billing_run.created", object_repr="2026-10")
        assert (event.ip, event.user_agent, event.category) == ("", "", AuditCategory.CHANGE)
        with pytest.raises(ValueError):
            audit(actor="x", action="y", category="no-such-kind")


# --- logins ------------------------------------------------------------------------------------------
def test_logins_failed_logins_lockouts_and_logouts_are_recorded_per_schema(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"), HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.9")
    assert login(http, "anne@alpha.test", "wrong-password").status_code == 200
    failed = events(alpha, action="auth.login_failed")[-1]
    assert (failed.actor, failed.category, failed.ip) == ("anne@alpha.test", AuditCategory.AUTH, "203.0.113.9")
    login(http, "nobody@alpha.test", "wrong-password")
    assert events(alpha, action="auth.login_failed")[-1].actor == "nobody@alpha.test"
    assert login(http, "anne@alpha.test").status_code == 302
    http.post("/accounts/logout/")
    assert [e.actor for e in events(alpha, action__in=["auth.login", "auth.logout"])][-2:] == [
        "anne@alpha.test", "anne@alpha.test"]
    assert events(alpha, action="auth.logout")[-1].target_id == events(alpha, action="auth.login")[-1].target_id
    # A failed login on beta's domain is beta's business only.
    login(Http(HTTP_HOST=host_of("beta")), "anne@alpha.test", "wrong-password")
    assert len(events(alpha, action="auth.login_failed")) == 2
    assert len(events(beta, action="auth.login_failed", actor="anne@alpha.test")) == 1


def test_a_lockout_is_recorded(alpha) -> None:  # type: ignore[no-untyped-def]
    http = Http(HTTP_HOST=host_of("alpha"), REMOTE_ADDR="203.0.113.10")
    for _ in range(6):
        login(http, "ari@alpha.test", "wrong-password")
    assert events(alpha, action="auth.locked_out", actor="ari@alpha.test")


# --- append-only ---------------------------------------------------------------------------------------
def _refused(attempt) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        attempt()


def test_rows_cannot_be_updated_or_deleted_by_orm_or_sql(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        event = audit(actor="alice@alpha.test", action="client.updated", object_repr="AU-1", fields=["phone"])
        event.action = "client.viewed"

        def raw(sql: str) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk] if "%s" in sql else None)

        for attempt in (
            event.save, event.delete,
            lambda: AuditEvent.objects.filter(pk=event.pk).update(actor="someone else"),
            lambda: AuditEvent.objects.all().delete(),
            lambda: raw("UPDATE accounts_auditevent SET extra_data = '{}' WHERE id = %s"),
            lambda: raw("DELETE FROM accounts_auditevent WHERE id = %s"),
            lambda: raw("TRUNCATE accounts_auditevent"),
        ):
            _refused(attempt)
        # The key-rotation setting opens the encrypted columns only, never the record itself.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL majismart.audit_rekey = 'on'")
        _refused(lambda: raw("UPDATE accounts_auditevent SET action = 'x' WHERE id = %s"))
        _refused(lambda: raw("DELETE FROM accounts_auditevent WHERE id = %s"))
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_auditevent SET ip = 'enc1:x' WHERE id = %s", [event.pk])
            assert cursor.rowcount == 1
            cursor.execute("SET LOCAL majismart.audit_rekey = 'off'")
        _refused(lambda: raw("UPDATE accounts_auditevent SET ip = '' WHERE id = %s"))
        stored = AuditEvent.objects.values_list("action", "actor").get(pk=event.pk)
        assert stored == ("client.updated", "alice@alpha.test")
        # Erasing a person may replace who did it (and from where), never what was done.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL majismart.audit_erase = 'on'")
        _refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(actor="erased", object_repr="x"))
        assert AuditEvent.objects.filter(pk=event.pk).update(actor="erased client 7", ip="") == 1
        _refused(lambda: AuditEvent.objects.filter(pk=event.pk).delete())
        assert AuditEvent.objects.values_list("action", "actor").get(pk=event.pk) == ("client.updated", "erased client 7")


def test_the_purge_removes_only_rows_older_than_the_cutoff(alpha) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        with time_machine.travel("2025-01-10 08:00+00:00"):
            old = [audit(actor="t", action="client.viewed", object_repr=f"OLD-{i}") for i in range(3)]
        with time_machine.travel("2025-12-01 08:00+00:00"):
            kept = audit(actor="t", action="client.viewed", object_repr="KEPT")
        cutoff = datetime(2025, 6, 1, tzinfo=UTC)
        due = AuditEvent.objects.filter(created__lt=cutoff).count()
        assert due >= 3 and audit_purge_before(cutoff=cutoff) == due
        assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
        assert AuditEvent.objects.filter(pk=kept.pk).exists()
        assert not AuditEvent.objects.filter(created__lt=cutoff).exists()
        purged = AuditEvent.objects.get(action="audit.purged")
        assert purged.category == AuditCategory.PRIVACY and purged.extra_data["deleted"] == due
        assert audit_purge_before(cutoff=cutoff) == 0  # idempotent
        # The purge setting does not outlive the purge, even inside an outer transaction.
        _refused(lambda: AuditEvent.objects.filter(pk=kept.pk).delete())
        with pytest.raises(ValueError):
            audit_purge_before(cutoff=datetime(2025, 6, 1))  # noqa: DTZ001 - the naive value is the point


def _triggers(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'accounts_auditevent' "
            "AND NOT t.tgisinternal", [schema])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_every_schema_has_the_trigger_including_a_freshly_cloned_provider() -> None:
    from tenants.models import Provider
    from tenants.services import provider_create

    expected = {"accounts_auditevent_append_only", "accounts_auditevent_no_truncate"}
    for schema in ("public", "tenant_base", "alpha", "beta", "gamma"):
        assert _triggers(schema) == expected, schema
    fresh = provider_create(name="Audit Springs", slug="audit-springs", owner_email="o@audit.test",
                            owner_password=PASSWORD).provider
    connection.set_schema_to_public()
    assert _triggers("audit-springs") == expected
    with tenant_context(Provider.objects.get(pk=fresh.pk)):
        event = audit(actor="o@audit.test", action="client.viewed")
        # The clone's trigger calls the clone's own function, and refuses just the same.
        _refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(action="x"))
        assert audit_purge_before(cutoff=timezone.now() + timedelta(seconds=1)) >= 1


def test_key_rotation_rewrites_the_encrypted_columns_of_audit_rows(alpha, settings) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    as_("amos")
    event = events(alpha, action="auth.login")[-1]
    old_ip, _ = raw_columns(alpha, event.pk)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", schemas=["alpha"], stdout=open("/dev/null", "w"))  # noqa: SIM115
    new_ip, _ = raw_columns(alpha, event.pk)
    assert new_ip != old_ip
    with tenant_context(alpha):
        assert AuditEvent.objects.get(pk=event.pk).ip == "203.0.113.7"


# --- viewing personal data ---------------------------------------------------------------------------
def test_viewing_a_client_on_the_dashboard_is_recorded_against_the_client(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    amos = as_("amos")
    assert amos.get(f"/dashboard/clients/{wanjiru.pk}/").status_code == 200
    assert amos.get(f"/dashboard/clients/{wanjiru.pk}/edit/").status_code == 200
    viewed = events(alpha, action="client.viewed", target_type="client", target_id=wanjiru.pk)
    assert [(e.actor, e.category, e.extra_data["page"], e.object_repr) for e in viewed] == [
        ("amos@alpha.test", AuditCategory.ACCESS, "detail", "AU-001"),
        ("amos@alpha.test", AuditCategory.ACCESS, "edit", "AU-001")]
    assert viewed[0].ip == "203.0.113.7" and viewed[0].user_agent == UA
    _no_personal_values(viewed[0], "Wanjiru", "+254711222333", "wanjiru@example.com")


def test_a_client_search_is_one_row_without_the_words_searched(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        domestic = Category.objects.get(code="domestic")
        for i in range(3):
            Client.objects.create(account_number=f"AU-1{i}", full_name=f"Kamau Number {i}", category=domestic)
    connection.set_schema_to_public()
    anne = as_("anne")
    anne.get("/dashboard/clients/")
    assert not events(alpha, action="clients.searched")  # browsing the list is not a look-up
    assert anne.get("/dashboard/clients/?q=kamau&status=active").status_code == 200
    (searched,) = events(alpha, action="clients.searched")
    assert searched.category == AuditCategory.ACCESS and wanjiru.pk in searched.extra_data["client_ids"]
    assert len(searched.extra_data["client_ids"]) == 4 and searched.extra_data["filters"] == ["status"]
    _no_personal_values(searched, "kamau", "Kamau", "Wanjiru")


def test_the_api_client_endpoints_record_one_row_per_request(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    api = api_client("alpha", API_KEYS["alpha"])
    assert api.get(f"/api/v1/clients/{wanjiru.pk}/").status_code == 200
    assert api.get("/api/v1/clients/?search=wanjiru").status_code == 200
    (viewed,) = events(alpha, action="client.viewed", target_id=wanjiru.pk)
    assert viewed.actor.startswith("API key alpha field app (mjs_") and viewed.category == AuditCategory.ACCESS
    (listed,) = events(alpha, action="clients.listed")
    assert listed.extra_data["client_ids"] == [wanjiru.pk] and listed.extra_data["searched"] is True
    _no_personal_values(listed, "wanjiru", "Wanjiru")


def test_api_key_use_is_one_row_per_key_per_hour_with_the_count(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    api = api_client("alpha", API_KEYS["alpha"])
    with time_machine.travel("2026-11-23 07:10+00:00", tick=False):
        for _ in range(4):
            assert api.get("/api/v1/meters/").status_code == 200
    with time_machine.travel("2026-11-23 08:05+00:00", tick=False):
        api.get("/api/v1/meters/")
    used = events(alpha, action="api_key.used")
    assert len(used) == 2 and all(e.category == AuditCategory.API and e.target_type == "apikey" for e in used)
    assert used[0].extra_data["path"] == "/api/v1/meters/" and "requests_previous_hour" not in used[0].extra_data
    assert used[1].extra_data["requests_previous_hour"] == 4
    assert not events(alpha, action__in=["client.viewed", "clients.listed"])  # meters carry no personal data


# --- changes of personal data ------------------------------------------------------------------------
def test_client_create_and_edit_record_field_names_only(alpha) -> None:  # type: ignore[no-untyped-def]
    amos = as_("amos")
    created = amos.post("/dashboard/clients/new/", {"full_name": "Achieng Otieno", "phone": "0722 111 222",
                                                     "category": "domestic", "status": "active",
                                                     "opening_balance": "0"})
    assert created.status_code == 302
    with tenant_context(alpha):
        client = Client.objects.get(phone_index__isnull=False, account_number=Client.objects.latest("id").account_number)
    edited = amos.post(f"/dashboard/clients/{client.pk}/edit/", {
        "account_number": client.account_number, "full_name": "Achieng Otieno", "phone": "0733 444 555",
        "email": "achieng@example.com", "category": "domestic", "status": "active"})
    assert edited.status_code == 302
    create_event = events(alpha, action="client.created", target_id=client.pk)[0]
    update_event = events(alpha, action="client.updated", target_id=client.pk)[0]
    assert "full_name" in create_event.extra_data["fields"] and "phone" in create_event.extra_data["fields"]
    assert update_event.extra_data["fields"] == ["email", "phone"]
    assert update_event.object_repr == client.account_number and update_event.category == AuditCategory.CHANGE
    for event in (create_event, update_event):
        _no_personal_values(event, "Achieng", "Otieno", "722111222", "733444555", "achieng@example.com")


# --- exports and settings ----------------------------------------------------------------------------
def test_statement_and_invoice_exports_are_recorded(tenant) -> None:  # type: ignore[no-untyped-def]
    from tests.billing_helpers import billed_twice

    client = billed_twice("Export Client")
    anne = as_("anne")
    assert anne.get(f"/dashboard/clients/{client.pk}/statement/").status_code == 200
    assert anne.get(f"/dashboard/clients/{client.pk}/statement/pdf/?from=2026-09-01").status_code == 200
    invoice = client.invoices.filter(status="issued").first()
    assert anne.get(f"/dashboard/billing/invoices/{invoice.pk}/pdf/").status_code == 200
    api = api_client("alpha", API_KEYS["alpha"])
    assert api.get(f"/api/v1/clients/{client.pk}/statement/").status_code == 200
    assert api.get(f"/api/v1/invoices/{invoice.pk}/pdf/").status_code == 200
    with tenant_context(tenant):
        rows = list(AuditEvent.objects.filter(target_type="client", target_id=client.pk,
                                              category__in=["export", "access"]).order_by("id")
                    .values_list("action", "category", "actor"))
    key_actor = rows[-1][2]
    assert rows == [("statement.viewed", "access", "anne@alpha.test"), ("statement.exported", "export", "anne@alpha.test"),
                    ("invoice.exported", "export", "anne@alpha.test"), ("statement.exported", "export", key_actor),
                    ("invoice.exported", "export", key_actor)]
    assert key_actor.startswith("API key ")


def test_every_settings_page_records_its_changes(tenant) -> None:  # type: ignore[no-untyped-def]
    alice = as_("alice")
    assert alice.post("/dashboard/payments/settings/", {
        "mpesa_environment": "sandbox", "mpesa_shortcode_type": "paybill", "mpesa_shortcode": "600984",
        "mpesa_c2b_version": "v1", "ip_check": "log", "mpesa_consumer_key": "KeyABCDEFGHIJKL"}).status_code == 302
    assert alice.post("/dashboard/messages/settings/", {
        "sms_enabled": "on", "at_environment": "sandbox", "at_username": "sandbox", "at_api_key": "atsk_secret_value_1",
        "at_sender_id": "", "sms_cost_per_segment": "0.80", "email_enabled": "on", "quiet_start": "21:00",
        "quiet_end": "07:00", "reminder_days_before": "5, 2", "reminder_days_after": "1,7",
        "disconnection_notice_days": "30", "reminder_hour": "9"}).status_code == 302
    assert alice.post("/dashboard/settings/branding/", {
        "address": "P.O. Box 1, Mombasa", "kra_pin": "p051234567x", "contact_email": "Care@Alpha.test",
        "contact_phone": "0712 345 678", "website": "", "brand_color": "#0D7A5F"}).status_code == 302
    assert alice.post("/dashboard/clients/settings/", {"cat-code": "school", "cat-name": "Schools"}).status_code == 302
    assert alice.post("/dashboard/clients/settings/", {"zone-code": "south", "zone-name": "South"}).status_code == 302
    assert alice.post("/dashboard/clients/settings/", {"acc-account_prefix": "AW-", "acc-account_digits": "6",
                                                       "acc-next_account_number": "100"}).status_code == 302
    assert alice.post("/dashboard/billing/rules/", {"due_days": "21", "penalty_percent": "2.5",
                                                    "penalty_grace_days": "5"}).status_code == 302
    with tenant_context(tenant):
        rows = {e.action: e for e in AuditEvent.objects.filter(category=AuditCategory.SETTINGS)}
    for action in ("payments.settings_changed", "notifications.settings_changed", "provider.branding_changed",
                   "clients.category_added", "clients.zone_added", "clients.numbering_changed", "billing_rules.updated"):
        assert action in rows, action
        assert rows[action].actor == "alice@alpha.test" and rows[action].ip == "203.0.113.7", action
    # The reminder schedule is part of the message settings: named, as every changed field is.
    assert {"reminder_days_before", "at_api_key"} <= set(rows["notifications.settings_changed"].extra_data["fields"])
    assert "atsk_secret_value_1" not in json.dumps(rows["notifications.settings_changed"].extra_data)
    branding = rows["provider.branding_changed"].extra_data
    assert "contact_email" in branding["fields"] and "contact_email" not in branding["after"]
    assert "care@alpha.test" not in json.dumps(branding)


def test_api_keys_created_and_revoked_are_recorded(alpha) -> None:  # type: ignore[no-untyped-def]
    alice = as_("alice")
    assert alice.post("/dashboard/settings/api-keys/", {"name": "Readings app", "role": "meter_reader"}).status_code == 201
    created = events(alpha, action="api_key.created")[-1]
    assert created.category == AuditCategory.SETTINGS and created.target_type == "apikey"
    with tenant_context(alpha):
        from accounts.models import APIKey

        prefix = APIKey.objects.get(pk=created.target_id).prefix
    connection.set_schema_to_public()
    alice.post(f"/dashboard/settings/api-keys/{prefix}/revoke/")
    assert events(alpha, action="api_key.revoked", target_id=created.target_id)


# --- the dashboard viewer ----------------------------------------------------------------------------
@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("amos", 200), ("anne", 403), ("ari", 403),
                                                  ("carol", 403)])
def test_only_owner_and_manager_open_the_audit_log(alpha, persona: str, status: int) -> None:  # type: ignore[no-untyped-def]
    http = as_(persona)
    assert http.get("/dashboard/audit/").status_code == status
    nav = http.get("/dashboard/").content.decode() if persona != "carol" else ""
    assert ('href="/dashboard/audit/"' in nav) is (status == 200)


def test_anonymous_visitors_are_sent_to_log_in(alpha) -> None:  # type: ignore[no-untyped-def]
    response = Http(HTTP_HOST=host_of("alpha")).get("/dashboard/audit/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_beta_never_sees_alphas_events(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        audit(actor="alice@alpha.test", action="client.viewed", object_repr="ALPHA-SECRET-1")
    connection.set_schema_to_public()
    bob = as_("bob@beta.test", slug="beta")
    page = bob.get("/dashboard/audit/?target=ALPHA-SECRET-1").content.decode()
    assert "ALPHA-SECRET-1" in page  # echoed back in the filter box and the "no such client" line …
    assert 'data-testid="audit-row"' not in page
    everything = bob.get("/dashboard/audit/").content.decode()
    assert "ALPHA-SECRET-1" not in everything and "alice@alpha.test" not in everything
    assert "bob@beta.test" in everything  # … while beta's own login is there


def test_the_filters_narrow_the_log(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        other = Client.objects.create(account_number="AU-002", full_name="Other Person",
                                      category=Category.objects.get(code="domestic"))
        with time_machine.travel("2026-03-01 20:30+00:00"):  # 23:30 in Nairobi on 1 March
            audit(actor="anne@alpha.test", action="statement.exported", target=wanjiru, object_repr="AU-001")
        with time_machine.travel("2026-03-01 21:30+00:00"):  # 00:30 on 2 March in Nairobi
            audit(actor="amos@alpha.test", action="client.updated", target=other, object_repr="AU-002", fields=["phone"])
    connection.set_schema_to_public()
    amos = as_("amos")

    def rows(query: str) -> list[str]:
        page = amos.get(f"/dashboard/audit/?{query}")
        assert page.status_code == 200
        html = page.content.decode()
        return [chunk.split("</tr>")[0] for chunk in html.split('data-testid="audit-row"')[1:]]

    by_client = rows("target=au-001")
    assert len(by_client) == 1 and "statement.exported" in by_client[0] and "1 Mar 2026 23:30:00" in by_client[0]
    assert 'data-testid="target-shown"' in amos.get("/dashboard/audit/?target=AU-001").content.decode()
    assert rows("target=NO-SUCH") == [] and "target-unknown" in amos.get("/dashboard/audit/?target=NO-SUCH").content.decode()
    assert all("amos@alpha.test" in r for r in rows("actor=amos@"))
    assert all("Export" in r for r in rows("category=export")) and rows("category=export")
    assert len(rows("action=client.updated&from=2026-03-02&to=2026-03-02")) == 1
    assert len(rows("from=2026-03-01&to=2026-03-01&category=export")) == 1
    assert rows("from=2026-03-01&to=2026-03-01&action=client.updated") == []
    auth_rows = rows("category=auth&actor=amos")
    assert auth_rows and "203.0.113.7" in auth_rows[0] and "AuditTest" in auth_rows[0]
    # The client page links to its own activity.
    detail = amos.get(f"/dashboard/clients/{wanjiru.pk}/").content.decode()
    assert 'href="/dashboard/audit/?target=AU-001"' in detail and "Activity on this record" in detail


def test_the_log_pages_with_a_pinned_query_count(alpha, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        for i in range(120):
            audit(actor="t@alpha.test", action="client.viewed", target=("client", i), object_repr=f"P-{i:03d}")
    connection.set_schema_to_public()
    alice = as_("alice")
    # two search_path SETs, host→domain, session, user, the retention period shown, the count, the
    # page: constant in the rows shown
    with django_assert_num_queries(8):
        first = alice.get("/dashboard/audit/?actor=t@alpha.test")
    html = first.content.decode()
    assert html.count('data-testid="audit-row"') == 50 and "P-119" in html and "1–50 of 120" in html
    last = alice.get("/dashboard/audit/?actor=t@alpha.test&page=3").content.decode()
    assert last.count('data-testid="audit-row"') == 20 and "P-000" in last


def test_the_log_says_what_happened_in_words(alpha, wanjiru) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        audit(actor="anne@alpha.test", action="statement.exported", target=wanjiru, object_repr="AU-001", format="pdf")
        audit(actor="alice@alpha.test", action="privacy.retention.settings_changed", object_repr="retention",
              before={"audit_months": 12, "export_days": 7}, after={"audit_months": 24, "export_days": 7})
        audit(actor="alice@alpha.test", action="privacy.request_refused", object_repr="request 4", category="privacy")
        audit(actor="alice@alpha.test", action="clients.listed", client_ids=[1, 2, 3])
        audit(actor="alice@alpha.test", action="meters.some_new_thing")
    connection.set_schema_to_public()
    html = as_("alice").get("/dashboard/audit/").content.decode()
    rows = {chunk.split('title="')[1].split('"')[0]: chunk.split("</tr>")[0]
            for chunk in html.split('data-testid="audit-row"')[1:]}
    assert ">Downloaded a statement<" in rows["statement.exported"] and "Format:</span> pdf" in rows["statement.exported"]
    changed = rows["privacy.retention.settings_changed"]
    assert ">Changed retention periods<" in changed and "audit months: 12 → 24" in changed and "export days" not in changed
    assert ">Refused a privacy request<" in rows["privacy.request_refused"]
    assert "Clients:</span> 3 clients" in rows["clients.listed"] and "[1, 2, 3]" not in rows["clients.listed"]
    assert ">Meters some new thing<" in rows["meters.some_new_thing"]  # a code with no wording yet still reads
    # On a phone each row is a card whose cells name themselves.
    assert '<table class="stack-sm">' in html and 'data-label="Details"' in html and "Kept 12 months" in html


def test_the_who_filter_is_served_by_an_index(alpha) -> None:  # type: ignore[no-untyped-def]
    from accounts.selectors import AuditFilters, audit_search

    with tenant_context(alpha):
        sql, params = audit_search(AuditFilters(actor="Anne@")).query.sql_with_params()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_actor_upper_idx" in plan, plan


# --- users' names ------------------------------------------------------------------------------------
def test_user_names_are_encrypted_at_rest_and_150_long_at_most(alpha) -> None:  # type: ignore[no-untyped-def]
    import importlib

    with tenant_context(alpha):
        user = User.objects.get(email="amos@alpha.test")
        assert user.full_name == "Amos Mutua"
        with connection.cursor() as cursor:
            cursor.execute("SELECT full_name FROM accounts_user WHERE id = %s", [user.pk])
            assert cursor.fetchone()[0].startswith("enc1:")
        with pytest.raises(ValidationError):
            User.objects.create_user("long@alpha.test", PASSWORD, full_name="x" * 151)
        # The data migration encrypts names written in clear before it.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET full_name = 'Clear Name' WHERE id = %s", [user.pk])
        migration = importlib.import_module("accounts.migrations.0003_encrypt_names_scrub_audit")
        assert migration.encrypt_names(connection) == 1
        assert User.objects.get(pk=user.pk).full_name == "Clear Name"
    with schema_context("public"):
        assert User.objects.get(email="root@platform.test").full_name == "Platform Root"


def test_the_admin_keeps_the_name_to_150_characters_and_searches_by_email(db) -> None:  # type: ignore[no-untyped-def]
    from django.contrib import admin

    from accounts.admin import UserAdmin

    model_admin = UserAdmin(User, admin.site)
    assert "full_name" not in model_admin.search_fields
    field = model_admin.formfield_for_dbfield(User._meta.get_field("full_name"), request=None)
    assert field.max_length == 150 and field.widget.input_type == "text"
    assert field.clean("x" * 150) == "x" * 150
    with pytest.raises(ValidationError):
        field.clean("x" * 151)
