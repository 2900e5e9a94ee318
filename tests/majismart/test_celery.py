"""Tasks run in the schema they were sent from; periodic jobs fan out over active providers.

The eager tests exercise the same tenant-schemas-celery machinery in-process; the worker test
crosses a real Redis broker into a real `celery worker` process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.result import AsyncResult
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.tasks import clear_expired_sessions
from devkit.testing import celery_worker
from majismart.celery import app
from tenants.tasks import fan_out


def test_a_task_runs_in_the_schema_it_was_sent_from(alpha, beta) -> None:  # type: ignore[no-untyped-def]
    with tenant_context(alpha):
        Session.objects.create(session_key="old-alpha", session_data="x", expire_date=timezone.now() - timedelta(days=1))
        Session.objects.create(session_key="live-alpha", session_data="x", expire_date=timezone.now() + timedelta(days=1))
    with tenant_context(beta):
        Session.objects.create(session_key="old-beta", session_data="x", expire_date=timezone.now() - timedelta(days=1))
    with tenant_context(alpha):
        result = clear_expired_sessions.delay().get()
    assert result == {"schema": "alpha", "deleted": 1}
    with tenant_context(alpha):
        assert list(Session.objects.values_list("session_key", flat=True)) == ["live-alpha"]
    with tenant_context(beta):
        assert Session.objects.filter(session_key="old-beta").exists()


def test_a_provider_task_refuses_to_run_in_public(db) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    with pytest.raises(RuntimeError, match="about to run in the public schema"):
        clear_expired_sessions.delay().get()


def test_fan_out_reaches_every_active_provider_and_only_those(alpha, gamma) -> None:  # type: ignore[no-untyped-def]
    connection.set_schema_to_public()
    sent = fan_out.delay("accounts.tasks.clear_expired_sessions").get()
    assert "alpha" in sent and "beta" in sent
    assert "gamma" not in sent  # suspended
    assert "tenant_base" not in sent and "public" not in sent


@pytest.mark.worker
@pytest.mark.django_db(transaction=False)
def test_a_real_worker_runs_tasks_in_the_senders_schema(alpha, beta, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from celery._state import _set_task_join_will_block, task_join_will_block

    # As eager tasks run by several threads at once can leave it (Celery's process-wide "inside
    # a task" flag): the test process must still be able to wait for a result.
    _set_task_join_will_block(True)
    with celery_worker(tmp_path / "worker.log") as (queue, conn, backend):
        with tenant_context(alpha):
            from_alpha = clear_expired_sessions.apply_async(connection=conn, queue=queue)
        with tenant_context(beta):
            from_beta = clear_expired_sessions.apply_async(connection=conn, queue=queue)
        connection.set_schema_to_public()
        unstamped = app.send_task("accounts.tasks.clear_expired_sessions", connection=conn, queue=queue)
        assert AsyncResult(from_alpha.id, backend=backend).get(timeout=60)["schema"] == "alpha"
        assert AsyncResult(from_beta.id, backend=backend).get(timeout=60)["schema"] == "beta"
        with pytest.raises(RuntimeError, match="public schema"):
            AsyncResult(unstamped.id, backend=backend).get(timeout=60)
    assert task_join_will_block() is True  # given back as it was
    _set_task_join_will_block(False)
