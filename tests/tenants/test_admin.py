from __future__ import annotations

from django.test import Client

from tenants.models import Provider, ProviderEvent
from tests.conftest import PASSWORD
from tests.two_factor_helpers import enrolled_admin_login


def _admin(public_client: Client) -> Client:
    response = enrolled_admin_login(public_client, "root@platform.test")
    assert response.status_code == 302 and response.url == "/admin/"
    return public_client


def test_platform_admins_search_providers(public_client: Client, alpha) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(public_client)
    listing = admin.get("/admin/tenants/provider/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Alpha Water" in html and "Beta Springs" in html
    assert "(template schema)" not in html and ">MajiSmart<" not in html
    found = admin.get("/admin/tenants/provider/?q=beta").content.decode()
    assert "Beta Springs" in found and "Alpha Water" not in found
    assert admin.get(f"/admin/tenants/provider/{alpha.pk}/change/").status_code == 200
    assert admin.get("/admin/tenants/domain/").status_code == 200


def test_platform_admins_suspend_and_reactivate(public_client: Client, alpha) -> None:  # type: ignore[no-untyped-def]
    admin = _admin(public_client)
    url = "/admin/tenants/provider/"
    response = admin.post(url, {"action": "suspend", "_selected_action": [alpha.pk]})
    assert response.status_code == 302
    assert Provider.objects.get(pk=alpha.pk).status == "suspended"
    assert Client(HTTP_HOST="alpha.majismart.localhost").get("/").status_code == 403
    admin.post(url, {"action": "reactivate", "_selected_action": [alpha.pk]})
    assert Provider.objects.get(pk=alpha.pk).status == "active"
    assert ProviderEvent.objects.filter(provider=alpha, actor="root@platform.test").count() == 2


def test_a_provider_user_cannot_use_the_platform_admin(public_client: Client) -> None:
    refused = public_client.post("/admin/login/", {"username": "alice@alpha.test", "password": PASSWORD})
    assert refused.status_code == 200 and b"Please enter the correct email" in refused.content
    response = public_client.get("/admin/tenants/provider/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_view_only_staff_cannot_suspend(public_client: Client, alpha) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import Permission

    from accounts.models import User

    viewer = User.objects.create_user("viewer@platform.test", PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provider"))
    enrolled_admin_login(public_client, "viewer@platform.test")
    assert public_client.get("/admin/tenants/provider/").status_code == 200
    public_client.post("/admin/tenants/provider/", {"action": "suspend", "_selected_action": [alpha.pk]})
    assert Provider.objects.get(pk=alpha.pk).status == "active"


def test_domains_cannot_point_at_the_platform_or_the_template(public_client: Client) -> None:
    admin = _admin(public_client)
    html = admin.get("/admin/tenants/domain/add/").content.decode()
    assert "Alpha Water" in html
    assert "(template schema)" not in html and ">MajiSmart<" not in html
    assert ">majismart.localhost<" not in admin.get("/admin/tenants/domain/").content.decode()
