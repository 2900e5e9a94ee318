from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tenants.utils import tenant_context

from accounts.models import User
from tenants.models import Provider
from tests.conftest import PASSWORD, api_client


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_provider_prints_its_domain(db) -> None:  # type: ignore[no-untyped-def]
    out = _run("create_provider", "eldoret", "--name", "Eldoret Water", "--owner-email", "o@eldoret.test",
               "--owner-password", PASSWORD, "--phone", "0722 000 111")
    assert out == "eldoret.majismart.localhost"
    provider = Provider.objects.get(slug="eldoret")
    assert provider.contact_phone == "+254722000111"
    with tenant_context(provider):
        assert User.objects.get().email == "o@eldoret.test"


def test_create_provider_refuses_a_taken_slug(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="already taken"):
        _run("create_provider", "alpha", "--name", "X", "--owner-email", "x@x.test", "--owner-password", PASSWORD)


def test_provider_info_json(alpha) -> None:  # type: ignore[no-untyped-def]
    info = json.loads(_run("provider_info", "alpha", "--json"))
    token = alpha.callback_token
    assert info["slug"] == "alpha" and info["name"] == "Alpha Water"
    assert info["domain"] == "alpha.majismart.localhost"
    assert info["callback_token"] == token
    assert info["callback_urls"] == {
        "c2b_validation": f"https://alpha.majismart.localhost/payments/c2b/validation/{token}/",
        "c2b_confirmation": f"https://alpha.majismart.localhost/payments/c2b/confirmation/{token}/",
        "stk_callback": f"https://alpha.majismart.localhost/payments/stk/callback/{token}/",
        "paystack_webhook": "https://alpha.majismart.localhost/payments/paystack/webhook/",
        "ussd": f"https://alpha.majismart.localhost/ussd/{token}/",
        "sms_inbound": f"https://alpha.majismart.localhost/sms/inbound/{token}/",
    }
    with pytest.raises(CommandError):
        _run("provider_info", "tenant-base", "--json")


def test_create_api_key_prints_a_working_key(alpha) -> None:  # type: ignore[no-untyped-def]
    raw = _run("create_api_key", "alpha", "--name", "meter gateway")
    assert raw.startswith("mjs_")
    me = api_client("alpha", raw).get("/api/v1/me/").json()
    assert me["name"] == "meter gateway" and me["provider"] == "alpha"
    assert api_client("beta", raw).get("/api/v1/me/").status_code == 401


def test_seed_demo_creates_two_providers_once(db) -> None:  # type: ignore[no-untyped-def]
    first = _run("seed_demo")
    assert "Mombasa Water Works (created): http" in first and "owner@mombasa-water.demo" in first
    assert "client@greenpark-estate.demo" in first
    second = _run("seed_demo")
    assert "Mombasa Water Works (already there)" in second
    assert Provider.objects.filter(slug__in=["mombasa-water", "greenpark-estate"]).count() == 2
    with tenant_context(Provider.objects.get(slug="mombasa-water")):
        assert sorted(User.objects.values_list("role", flat=True)) == [
            "accountant", "client", "manager", "meter_reader", "owner"]
        from clients.models import Client
        from meters.models import Reading

        assert Client.objects.count() == 30 and Client.objects.filter(user__role="client").count() == 1
        assert Reading.objects.filter(status="accepted").count() >= 30 * 11
        assert Reading.objects.filter(status="flagged", flags__contains=["high_consumption"]).exists()
        from billing.models import BillingRun, Invoice, Tariff

        assert Tariff.objects.count() == 4
        # A year billed month by month (web.demo_year; tests/web/test_demo_consistency.py).
        runs = list(BillingRun.objects.order_by("period").values_list("status", "invoice_count"))
        assert runs == [("finalized", 30)] * 12
        assert Invoice.objects.filter(status="issued", number__startswith="INV-").count() == 360
        from payments.models import Payment, PaymentSettings

        assert PaymentSettings.load().mpesa_ready  # sandbox values, for the local Daraja stand-in
        assert Payment.objects.filter(status="matched").count() >= 300
        assert Payment.objects.filter(status="unmatched").count() == 1
        paid = Payment.objects.filter(status="matched").first()
        assert paid.allocations.exists() and paid.ledger_entry.amount == -paid.amount


def test_setup_periodic_tasks_declares_the_schedule(db) -> None:  # type: ignore[no-untyped-def]
    from django_celery_beat.models import PeriodicTask

    from majismart.celery import PERIODIC_TASKS

    assert len(PERIODIC_TASKS) == 19
    assert _run("setup_periodic_tasks") == "19 periodic task(s) scheduled."
    task = PeriodicTask.objects.get(name="Clear expired sessions (every provider)")
    assert task.task == "tenants.tasks.fan_out"
    assert json.loads(task.args) == ["accounts.tasks.clear_expired_sessions"]
    _run("setup_periodic_tasks")
    assert PeriodicTask.objects.count() == 19
    assert PeriodicTask.objects.filter(task="majismart.celery.worker_heartbeat").count() == 5  # one per queue
    daily = {json.loads(t.args)[0] for t in PeriodicTask.objects.filter(crontab__hour__in=["2", "6"])}
    assert daily == {"privacy.tasks.retention_apply_task", "privacy.tasks.requests_remind_task",
                     "selfservice.tasks.purge_selfservice"}
    assert json.loads(PeriodicTask.objects.get(name__startswith="Send reminders").args) == ["payments.tasks.send_reminders"]
    assert json.loads(PeriodicTask.objects.get(name__startswith="Send messages").args) == ["notifications.tasks.sweep_messages"]
    assert json.loads(PeriodicTask.objects.get(name__startswith="Delete abandoned").args) == ["meters.tasks.purge_stale_uploads"]
    assert json.loads(PeriodicTask.objects.get(name__startswith="Process callbacks").args) == ["payments.tasks.sweep_inbox"]
    assert json.loads(PeriodicTask.objects.get(name__startswith="Break payment plans").args) == ["arrears.tasks.daily"]
    assert json.loads(PeriodicTask.objects.get(name__startswith="Ask M-Pesa").args) == ["payments.tasks.query_stale_stk"]
    figures = PeriodicTask.objects.get(name__startswith="Bring the report figures up to date")
    assert json.loads(figures.args) == ["reports.tasks.refresh_if_stale"] and figures.crontab.minute == "*/10"


def test_seed_demo_refuses_in_production(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    settings.TESTING = False
    with pytest.raises(CommandError, match="published password"):
        _run("seed_demo")
    assert not Provider.objects.filter(slug="mombasa-water").exists()


def test_setup_platform_follows_base_domain(db, settings) -> None:  # type: ignore[no-untyped-def]
    from tenants.models import Domain

    settings.BASE_DOMAIN = "water.example.co.ke"
    assert "Platform domain majismart.localhost -> water.example.co.ke" in _run("setup_platform")
    assert Domain.objects.get(tenant__schema_name="public").domain == "water.example.co.ke"
