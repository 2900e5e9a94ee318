"""The authorisation matrix: every URL pattern of a provider's domain (web.urls_tenant and
all it includes) declares who may open it, and answers every role, a client and an anonymous
visitor accordingly.

How a view declares (accounts/permissions.py):
- `@require_capability("clients.view")` on a page (portal pages: "portal.use");
- `required_capability = "..."` (or {"GET": ..., "POST": ...}) on an API view;
- `@public` (anyone, signed in or not) or `@signed_in` (any signed-in user, staff or client).

What each answer must be:
- allowed: not 401/403, not a redirect to the login page, no server error;
- a signed-in user whose role lacks the capability (a client on a staff page, staff on a portal
  page): 403;
- anonymous on a page: a redirect to the login page; on the API: 401 (it asks for a key).
Views that only take POST answer a GET with 405 before looking at the user: for those, the
refused ones are also checked with a POST (refused before anything is done).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.files.base import ContentFile
from django.test import Client as Http
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Role, User
from accounts.permissions import CAPABILITIES, PUBLIC, SIGNED_IN, capability_for, view_access
from accounts.services import api_key_create
from tests.billing_helpers import D, metered, read, travel
from tests.conftest import api_client, host_of, login

TENANT_URLCONF = "web.urls_tenant"
LOGIN = "/accounts/login/"

PEOPLE = {Role.OWNER: "alice@alpha.test", Role.MANAGER: "amos@alpha.test", Role.ACCOUNTANT: "anne@alpha.test",
          Role.METER_READER: "ari@alpha.test", Role.CLIENT: "carol@alpha.test"}
STAFF = (Role.OWNER, Role.MANAGER, Role.ACCOUNTANT, Role.METER_READER)

# Public signposts that send some visitors on to the login page: "/" (anonymous), and an
# expired sign-in hand-off link.
SENDS_TO_LOGIN = {"home", "handoff", "two_factor_login"}  # the code step without a password step first

HOW_TO_DECLARE = (
    "Declare who may open it where its view is written (accounts/permissions.py): "
    "@require_capability(\"<capability>\") with a capability of accounts.permissions.CAPABILITIES "
    "(portal pages: \"portal.use\"), or @public (anyone, signed in or not) or @signed_in (any signed-in "
    "user); an API view sets required_capability = \"<capability>\" or a dict of them by HTTP method.")


@dataclass(frozen=True)
class Route:
    route: str  # the pattern as written, prefixes included ("dashboard/clients/<int:pk>/")
    name: str | None
    callback: Any

    @property
    def key(self) -> str:
        return self.name or self.route

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def view(self) -> str:
        target = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None) or self.callback
        return f"{target.__module__}.{target.__qualname__}"


def tenant_routes() -> list[Route]:
    def walk(patterns: list, prefix: str) -> list[Route]:
        found = []
        for p in patterns:
            if isinstance(p, URLResolver):
                found += walk(p.url_patterns, prefix + str(p.pattern))
            else:
                assert isinstance(p, URLPattern)
                found.append(Route(prefix + str(p.pattern), p.name, p.callback))
        return found

    return walk(get_resolver(TENANT_URLCONF).url_patterns, "")


def capabilities_named(declared: Any) -> list[str]:
    if isinstance(declared, dict):
        return list(declared.values())
    return [] if declared in (PUBLIC, SIGNED_IN) else [declared]


# --- every URL declares ----------------------------------------------------------------------------
def undeclared(routes: list[Route]) -> list[str]:
    problems = []
    for r in routes:
        declared = view_access(r.callback)
        if declared is None:
            problems.append(f"URL {r.route!r} (name {r.name!r}, view {r.view}) declares nothing. {HOW_TO_DECLARE}")
            continue
        for capability in capabilities_named(declared):
            if capability not in CAPABILITIES:
                problems.append(f"URL {r.route!r} (name {r.name!r}) names {capability!r}, which is not in "
                                f"accounts.permissions.CAPABILITIES.")
    return problems


def test_every_url_of_a_provider_domain_declares_who_may_open_it() -> None:
    problems = undeclared(tenant_routes())
    assert not problems, "\n".join(problems)


def test_a_new_view_that_declares_nothing_is_named() -> None:
    from rest_framework.views import APIView

    from accounts.permissions import public, require_capability, signed_in

    def plain():  # type: ignore[no-untyped-def]
        def view(request):  # type: ignore[no-untyped-def]
            raise AssertionError
        return view

    class Bare(APIView):
        pass

    class Declared(APIView):
        required_capability = {"GET": "clients.view", "POST": "clients.manage"}

    routes = [Route("dashboard/new/", "new_page", plain()), Route("api/v1/new/", "api-new", Bare.as_view()),
              Route("dashboard/ok/", "ok", require_capability("clients.view")(plain())),
              Route("dashboard/mixed/", "mixed", require_capability("clients.view", POST="clients.manage")(plain())),
              Route("open/", "open", public(plain())), Route("mine/", "mine", signed_in(plain())),
              Route("api/v1/ok/", "api-ok", Declared.as_view()),
              Route("api/v1/typo/", "api-typo", type("Typo", (APIView,), {"required_capability": "client.view"}).as_view())]
    problems = undeclared(routes)
    assert len(problems) == 3, problems
    assert "'new_page'" in problems[0] and "declares nothing" in problems[0] and "@require_capability" in problems[0]
    assert "'api-new'" in problems[1] and "required_capability" in problems[1]
    assert "'client.view'" in problems[2] and "not in" in problems[2]


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


# --- one of everything ----------------------------------------------------------------------------
@pytest.fixture
def world(tenant, alpha):  # type: ignore[no-untyped-def]
    """Alpha with one of each object a URL can name; returns the example values of each URL's
    path converters, by URL name (or route, for the unnamed ones)."""
    from billing.models import BillingRun, Invoice, LedgerEntry, Tariff
    from billing.runs import billing_run_finalize, billing_run_start
    from meters.models import ReadingImport
    from notifications.catalog import EVENTS
    from notifications.models import Broadcast, Message, NotificationSettings
    from payments.collect import pay_link_token
    from payments.models import PaymentRequest
    from payments.services import payment_record
    from privacy.models import DataExport, DataRequest
    from tenants.models import PolicyVersion

    # Carol's account: September billed; her October reading (with its photo) waits for review,
    # and October's run is a draft that says so.
    client, meter = metered("Carol Chebet")
    client.user = User.objects.get(email=PEOPLE[Role.CLIENT])
    client.save(update_fields=["user"])
    read(meter, "0", "2026-08-31")
    read(meter, "10", "2026-09-30")
    read(meter, "28", "2026-10-31")
    with travel("2026-10-02"):
        billing_run_finalize(run=billing_run_start(period="2026-09")[0])
    reading = meter.readings.order_by("-read_at").first()
    reading.photo.save("matrix.png", ContentFile(PNG), save=False)
    reading.status = reading.Status.FLAGGED
    reading.save(update_fields=["photo", "status"])
    run = billing_run_start(period="2026-10")[0]
    assert run.status == BillingRun.Status.DRAFT
    invoice = Invoice.objects.get(client=client, status=Invoice.Status.ISSUED)
    entry = LedgerEntry.objects.filter(client=client).first()
    payment = payment_record(method="cash", receipt="MATRIX-1", amount=D("100.00"), paid_at=timezone.now(),
                             client=client, actor="test").payment
    from billing.fees import fee_charge, fee_create

    fee = fee_create(actor="test", code="matrix-fee", name="Matrix fee", amount=D("100.00"), kind="fee")
    charge = fee_charge(client=client, code=fee.code, actor="test")
    portal_request = PaymentRequest.objects.create(channel="stk", reference="ws_CO_matrix1", client=client,
                                                   amount=D("50.00"), source=PaymentRequest.Source.PORTAL)
    PaymentRequest.objects.create(channel="paystack", reference="matrix-card", client=client, amount=D("50.00"),
                                  status=PaymentRequest.Status.FAILED)
    link_request = PaymentRequest.objects.create(channel="stk", reference="ws_CO_matrix2", client=client,
                                                 amount=D("50.00"), source=PaymentRequest.Source.PAY_LINK)
    broadcast = Broadcast.objects.create(title="Works on Monday", purpose="supply", channels=["sms"],
                                         sms_text="Water off on Monday")
    message = Message.objects.create(channel="sms", event="broadcast", purpose="supply", client_id=client.pk,
                                     recipient="+254712345678", text="Water off on Monday", dedup_key="matrix-1",
                                     broadcast=broadcast)
    data_request = DataRequest.objects.create(kind="export", client=client, due_at=timezone.now() + timedelta(days=7))
    client_export = DataExport.objects.create(scope="client", client=client, token="matrix-client-export")
    provider_export = DataExport.objects.create(scope="provider", token="matrix-provider-export")
    reading_import = ReadingImport.objects.create(token="matrix-import", file_name="readings.csv")
    api_key = api_key_create(name="matrix key")[0]
    alpha.logo.save("logo.png", ContentFile(PNG), save=True)
    event = next(iter(EVENTS.values()))
    ari = User.objects.get(email=PEOPLE[Role.METER_READER])
    callback = {"token": alpha.callback_token}
    versions = {kind: PolicyVersion.objects.filter(kind=kind, published_at__isnull=False).first().version
                for kind in ("privacy", "terms")}
    # A pending invitation (its link read from the email, as the invited person would) and a
    # member of staff to act on.
    from django.core import mail

    from accounts.staff import staff_invite

    mail.outbox.clear()
    invite, _sent = staff_invite(actor=User.objects.get(email=PEOPLE[Role.OWNER]), email="new.reader@example.com",
                                 role=Role.METER_READER)
    invite_token = re.search(r"/accounts/invite/([^/\s]+)/", mail.outbox[-1].body).group(1)
    # A service request with its photo, and a work order done with one (their photo URLs answer).
    from fieldwork.models import WorkOrder
    from fieldwork.services import service_request_create, work_order_open

    service_request = service_request_create(client=client, kind="leak", description="Pipe burst at the gate",
                                             actor="test", channel="phone")
    service_request.photo.save("matrix.png", ContentFile(PNG), save=True)
    work_order = work_order_open(client=client, kind=WorkOrder.Kind.SERVICE, due_on=timezone.localdate(),
                                 service_request_id=service_request.pk)
    work_order.photo.save("matrix.png", ContentFile(PNG), save=True)
    request_pk, order_pk = {"pk": service_request.pk}, {"pk": work_order.pk}
    # A payment plan (arrears) for a client of its own.
    from arrears.services import plan_create
    from billing.services import adjustment_post

    plan_client, _plan_meter = metered("Plan Client")
    adjustment_post(client=plan_client, amount="900.00", reason="Arrears", actor="test")
    plan = plan_create(client=plan_client, instalments=3, first_due=timezone.localdate() + timedelta(days=7),
                       actor="test")
    # A leak alert on the client's meter (issue 21).
    from meters.alerts import leak_link_token
    from meters.models import LeakEpisode

    episode = LeakEpisode.objects.filter(meter=meter, state="open").first() or LeakEpisode.objects.create(
        meter=meter, rule="spike", started=timezone.now() - timedelta(days=30), first_read_at=timezone.now(),
        last_read_at=timezone.now(), m3_since=D("25.000"), threshold=D("20.000"))
    staff_pk = {"pk": ari.pk}
    client_pk = {"pk": client.pk}
    run_pk, invoice_pk, payment_pk = {"pk": run.pk}, {"pk": invoice.pk}, {"pk": payment.pk}
    return {
        "c2b_validation": callback, "c2b_confirmation": callback, "stk_callback": callback,
        "payments/c2b/validation/<str:token>/": callback, "payments/c2b/confirmation/<str:token>/": callback,
        "payments/stk/callback/<str:token>/": callback,
        "ussd_callback": callback, "sms_inbound": callback,
        "password_reset_confirm": {"uidb64": urlsafe_base64_encode(force_bytes(ari.pk)),
                                   "token": default_token_generator.make_token(ari)},
        "handoff": {"token": "expired-link"},
        "api_key_revoke": {"prefix": api_key.prefix},
        "sms_delivery_report": {"token": NotificationSettings.load().delivery_token},
        "message_detail": {"pk": message.pk},
        "template_edit": {"event": event.key, "channel": event.channels[0]},
        "client_detail": client_pk, "client_edit": client_pk, "client_message": client_pk,
        "client_preferences": client_pk, "client_statement": client_pk, "client_statement_pdf": client_pk,
        "client_adjust": client_pk, "entry_reverse": {"pk": client.pk, "entry_id": entry.pk},
        "client_charge": client_pk, "client_charge_reverse": {"pk": client.pk, "charge_id": charge.pk},
        "client_close": client_pk, "fee_edit": {"pk": fee.pk}, "api-client-charges": client_pk,
        "broadcast_detail": {"pk": broadcast.pk}, "broadcast_status": {"pk": broadcast.pk},
        "meter_replace": {"pk": meter.pk}, "meter_detail": {"pk": meter.pk}, "meter_reading": {"pk": meter.pk},
        "review_decide": {"pk": reading.pk}, "reading_photo": {"pk": reading.pk},
        "reading_import": {"pk": reading_import.pk},
        "run_detail": run_pk, "run_recompute": run_pk, "run_finalize": run_pk, "run_discard": run_pk,
        "invoice_detail": invoice_pk, "invoice_pdf": invoice_pk, "invoice_credit": invoice_pk,
        "tariff_detail": {"pk": Tariff.objects.first().pk},
        "portal_invoice": invoice_pk, "portal_invoice_pdf": invoice_pk,
        "payment_detail": payment_pk, "payment_receipt_pdf": payment_pk, "payment_reconcile": payment_pk,
        "payment_reverse": payment_pk,
        "portal_pay_request": {"pk": portal_request.pk}, "portal_pay_status": {"pk": portal_request.pk},
        "portal_receipt": payment_pk, "portal_receipt_pdf": payment_pk,
        "pay_link": {"token": pay_link_token(client)},
        "pay_link_request": {"token": pay_link_token(client), "pk": link_request.pk},
        "pay_link_status": {"token": pay_link_token(client), "pk": link_request.pk},
        "privacy_export_status": {"pk": client_export.pk}, "privacy_export_download": {"token": client_export.token},
        "privacy_request": {"pk": data_request.pk},
        "privacy_provider_export_status": {"pk": provider_export.pk},
        "privacy_provider_export_download": {"token": provider_export.token},
        "privacy_version": {"version": versions["privacy"]}, "terms_version": {"version": versions["terms"]},
        "api-client": client_pk, "api-client-statement": client_pk, "api-client-pay-link": client_pk,
        "api-client-adjustments": client_pk, "api-meter": {"pk": meter.pk},
        "api-billing-run": run_pk, "api-billing-run-finalize": run_pk, "api-billing-run-recompute": run_pk,
        "api-invoice": invoice_pk, "api-invoice-pdf": invoice_pk, "api-payment-reverse": payment_pk,
        "staff_invite_accept": {"token": invite_token},
        "staff_invite_resend": {"pk": invite.pk}, "staff_invite_revoke": {"pk": invite.pk},
        "staff_change_role": staff_pk, "staff_deactivate": staff_pk, "staff_reactivate": staff_pk,
        "staff_hand_over": staff_pk, "api-staff-member": staff_pk,
        "request_detail": request_pk, "request_photo": request_pk,
        "work_order_detail": order_pk, "work_order_not_done": order_pk, "work_order_assign": order_pk,
        "work_order_photo": order_pk, "api-work-order-complete": order_pk, "api-work-order-not-done": order_pk,
        "plan_detail": {"pk": plan.pk}, "api-payment-plan": {"pk": plan.pk},
        "leak_alert_close": {"pk": episode.pk}, "api-leak-alert-close": {"pk": episode.pk}, "leak_report": {"token": leak_link_token(episode)},
        "language_switch": {"code": "sw"},
    }


# The concrete path to ask for, where the route alone is not enough.
PATHS = {"api-not-found": "/api/v1/no-such-endpoint/",  # a catch-all regex
         "portal_card_return": "/portal/pay/card/return/?reference=matrix-card"}  # back from Paystack
# What these answer everybody allowed, rather than a page.
EXPECTED = {"api-not-found": 404}


def concrete(r: Route, examples: dict[str, dict[str, Any]]) -> str:
    if r.key in PATHS:
        return PATHS[r.key]
    names = re.findall(r"<(?:\w+:)?(\w+)>", r.route)
    if not names:
        return "/" + r.route
    values = examples.get(r.key)
    missing = [n for n in names if values is None or n not in values]
    assert not missing, (
        f"URL {r.route!r} (name {r.name!r}) has no example value for {missing}: add one to the `world` fixture "
        f"of tests/accounts/test_authorization_matrix.py (make the object it names there; never skip it).")
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), r.route)


def to_login(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN)


def allowed(r: Route, role: str | None, method: str) -> bool:
    """What the declaration says of `role` (None: anonymous) asking with `method`."""
    declared = view_access(r.callback)
    if declared == PUBLIC:
        return True
    if declared == SIGNED_IN or role is None:
        return role is not None
    # The API also asks "api.use" of everyone (StaffAPIPermission): clients never get in.
    return role in CAPABILITIES[capability_for(declared, method)] and (
        not r.is_api or role in CAPABILITIES["api.use"])


def judge(r: Route, who: str, role: str | None, method: str, response: Any) -> str | None:
    """What is wrong with `response` (None when it is right) for `who`, of `role` (None: anonymous)."""
    declared = view_access(r.callback)
    status = response.status_code
    said = f"{method} {r.route} (name {r.name!r}, declares {declared!r}) as {who}: {status}"
    if status >= 500:
        return f"{said}: a server error"
    if allowed(r, role, method):
        expected = EXPECTED.get(r.key)
        if expected is not None:
            return None if status == expected else f"{said}, expected {expected}"
        if status in (401, 403):
            return f"{said}, but the role map allows it"
        if to_login(response) and r.key not in SENDS_TO_LOGIN:
            return f"{said}: sent to the login page, but the role map allows it"
        if status == 404:
            return f"{said}: 404 (the `world` fixture should make what it names)"
        return None
    if method == "GET" and status == 405 and not r.is_api:
        return None  # a POST-only page, before it looks at the user: the POST is checked
    if role is None:
        if r.is_api:
            return None if status == 401 else f"{said}, expected 401 (the API asks for a key)"
        if declared == SIGNED_IN:  # the logo answers 404 rather than a login page to an <img>
            return None if to_login(response) or status == 404 else f"{said}, expected the login page"
        return None if to_login(response) else f"{said}, expected a redirect to the login page"
    return None if status == 403 else f"{said}, expected 403"


def ask(http: Any, method: str, path: str, *, api: bool) -> Any:
    if method == "GET":
        return http.get(path)
    if api:
        return http.generic(method, path, "{}", content_type="application/json")
    return http.generic(method, path, "", content_type="application/x-www-form-urlencoded")


def methods_of(declared: Any) -> list[str]:
    """The methods checked besides GET for refused visitors: those a declaration names apart."""
    return [m for m in declared if m not in ("GET", "*")] if isinstance(declared, dict) else []


def test_every_url_answers_each_role_as_the_role_map_says(world) -> None:  # type: ignore[no-untyped-def]
    """Pages by session; the API by session too for GET (its other methods: with keys, below)."""
    visitors: dict[str, tuple[str | None, Http]] = {"anonymous": (None, Http(HTTP_HOST=host_of("alpha")))}
    for role, email in PEOPLE.items():
        http = Http(HTTP_HOST=host_of("alpha"))
        assert login(http, email).status_code == 302, email
        visitors[str(role)] = (str(role), http)
    problems = []
    checked = 0
    for r in tenant_routes():
        path = concrete(r, world)
        declared = view_access(r.callback)
        for who, (role, http) in visitors.items():
            response = http.get(path)
            checked += 1
            problem = judge(r, who, role, "GET", response)
            if problem:
                problems.append(problem)
            if declared in (PUBLIC, SIGNED_IN) or (r.is_api and role is not None):
                continue  # nothing more to refuse; API sessions would need a CSRF token
            # POST-only pages answer a GET with 405 before looking at the user: the refused are
            # refused a POST too (the allowed are not sent one: it would act).
            others = ["POST"] if response.status_code == 405 else methods_of(declared)
            for method in others:
                if not allowed(r, role, method):
                    problem = judge(r, who, role, method, ask(http, method, path, api=r.is_api))
                    if problem:
                        problems.append(problem)
    assert checked >= 6 * 100, checked
    assert not problems, f"{len(problems)} answers disagree with the role map:\n" + "\n".join(problems)


def test_the_api_answers_each_role_s_key_as_the_role_map_says(world) -> None:  # type: ignore[no-untyped-def]
    keys = {str(role): api_client("alpha", api_key_create(name=f"matrix {role}", role=role)[1]) for role in STAFF}
    problems = []
    for r in tenant_routes():
        if not r.is_api:
            continue
        path = concrete(r, world)
        declared = view_access(r.callback)
        for role, http in keys.items():
            problem = judge(r, f"{role}'s API key", role, "GET", http.get(path))
            if problem:
                problems.append(problem)
            if declared in (PUBLIC, SIGNED_IN):
                continue
            for method in sorted({*methods_of(declared), *(["POST"] if isinstance(declared, str) else [])}):
                if allowed(r, role, method):
                    continue  # not sent: it would act
                problem = judge(r, f"{role}'s API key", role, method, ask(http, method, path, api=True))
                if problem:
                    problems.append(problem)
    assert not problems, f"{len(problems)} API answers disagree with the role map:\n" + "\n".join(problems)
