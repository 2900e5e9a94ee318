from __future__ import annotations

from django.test import Client

from tenants.models import Provider, ProviderEvent
from tenants.services import provider_reactivate, provider_suspend
from tests.conftest import api_client, login


def test_a_suspended_providers_domain_shows_a_clear_page(gamma) -> None:  # type: ignore[no-untyped-def]
    for path in ("/", "/accounts/login/", "/dashboard/"):
        response = Client(HTTP_HOST="gamma.majismart.localhost").get(path)
        assert response.status_code == 403
        assert b"Gamma Wells is temporarily unavailable" in response.content
        assert b"payments you make by M-Pesa are still received" in response.content


def test_a_suspended_providers_api_answers_403(gamma) -> None:  # type: ignore[no-untyped-def]
    response = api_client("gamma", "mjs_anything_at-all").get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json() == {"detail": "This provider's account is suspended."}


def test_payment_callbacks_are_not_refused_by_suspension(gamma) -> None:  # type: ignore[no-untyped-def]
    # Money keeps arriving: the callback paths pass the suspension gate and are stored.
    # Both the API.md paths and the ones registered with Daraja (no "mpesa" in them).
    token = gamma.callback_token
    for path in (f"/payments/mpesa/c2b/confirmation/{token}/", f"/payments/c2b/confirmation/{token}/",
                 f"/payments/mpesa/stk/callback/{token}/", f"/payments/stk/callback/{token}/"):
        response = Client(HTTP_HOST="gamma.majismart.localhost").post(path, {}, content_type="application/json")
        assert response.status_code == 200 and response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}, path
    validation = Client(HTTP_HOST="gamma.majismart.localhost").post(
        f"/payments/c2b/validation/{token}/", {"BillRefNumber": "X"}, content_type="application/json")
    assert validation.status_code == 200
    from django_tenants.utils import tenant_context

    from payments.models import CallbackInbox

    with tenant_context(gamma):
        assert CallbackInbox.objects.filter(kind="c2b_confirmation").count() == 2
        assert CallbackInbox.objects.filter(kind="stk_callback").count() == 2


def test_suspend_and_reactivate_are_audited_and_take_effect(alpha) -> None:  # type: ignore[no-untyped-def]
    client = Client(HTTP_HOST="alpha.majismart.localhost")
    login(client, "alice@alpha.test")
    provider_suspend(provider=alpha, actor="ops@platform.test", reason="unpaid")
    assert client.get("/dashboard/").status_code == 403
    provider_reactivate(provider=Provider.objects.get(pk=alpha.pk), actor="ops@platform.test")
    assert client.get("/dashboard/").status_code == 200
    actions = list(ProviderEvent.objects.filter(provider=alpha).values_list("action", "actor"))
    assert ("suspended", "ops@platform.test") in actions and ("reactivated", "ops@platform.test") in actions
