"""Reads of arrears: who the disconnection rule puts up, plans and disconnections for the lists."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from arrears.models import ArrearsSettings, Disconnection, PaymentPlan
from billing.models import CreditNote, Invoice
from billing.selectors import balance_of_client
from clients.models import Client
from payments.models import Payment

MONEY: DecimalField = DecimalField(max_digits=12, decimal_places=2)
ZERO = Value(Decimal("0.00"), output_field=MONEY)
UNDER_WAY = ("notice", "ordered", "disconnected", "reconnect_ordered")


def _net(invoice_ref: str = "pk") -> Greatest:
    """An invoice's amount after its credit notes (never below 0)."""
    credited = Subquery(CreditNote.objects.filter(invoice_id=OuterRef(invoice_ref)).order_by().values("invoice_id")
                        .annotate(s=Sum("amount")).values("s")[:1], output_field=MONEY)
    return Greatest(F("total") - Coalesce(credited, ZERO), ZERO, output_field=MONEY)


def oldest_unpaid_due() -> Subquery:
    """The due date of a client's oldest unpaid bill, as an expression over a client queryset
    annotated with `balance`. Payments and credits settle the oldest bills first (as
    billing.selectors.invoices_with_dues says): a bill is unpaid while the balance is more than
    what the bills newer than it come to."""
    issued = Invoice.objects.filter(status=Invoice.Status.ISSUED)
    newer = (issued.filter(client_id=OuterRef("client_id"))
             .filter(Q(due_date__gt=OuterRef("due_date")) | Q(due_date=OuterRef("due_date"), id__gt=OuterRef("id")))
             .annotate(net=_net()).order_by().values("client_id").annotate(s=Sum("net")).values("s")[:1])
    unpaid = (issued.filter(client_id=OuterRef("pk"), due_date__isnull=False)
              .annotate(net=_net(), newer=Coalesce(Subquery(newer, output_field=MONEY), ZERO))
              .filter(net__gt=0, newer__lt=OuterRef("balance")).order_by("due_date", "id").values("due_date")[:1])
    return Subquery(unpaid)


def last_payment() -> Subquery:
    return Subquery(Payment.objects.filter(client_id=OuterRef("pk"), status=Payment.Status.MATCHED)
                    .order_by("-paid_at").values("paid_at")[:1])


def on_good_plan() -> Exists:
    """On a plan in good standing: an active one (a missed instalment breaks it)."""
    return Exists(PaymentPlan.objects.filter(client_id=OuterRef("pk"), status=PaymentPlan.Status.ACTIVE))


def under_the_rule(*, today: date | None = None, cfg: ArrearsSettings | None = None,
                   clients: QuerySet[Client] | None = None) -> QuerySet[Client]:
    """Clients the provider's rule puts up for disconnection, in one query: active, not exempt,
    owing more than its amount, the oldest unpaid bill due more than its days ago, not on a plan
    in good standing. Annotated `balance`, `oldest_due`, `last_payment`."""
    today = today or timezone.localdate()
    cfg = cfg or ArrearsSettings.load()
    qs = Client.objects.all() if clients is None else clients
    return (qs.filter(status=Client.Status.ACTIVE, disconnection_exempt=False)
            .annotate(balance=balance_of_client()).filter(balance__gt=cfg.disconnect_above)
            .annotate(oldest_due=oldest_unpaid_due())
            .filter(oldest_due__lt=today - timedelta(days=cfg.disconnect_after_days))
            .exclude(on_good_plan()))


def candidates(*, today: date | None = None, cfg: ArrearsSettings | None = None) -> QuerySet[Client]:
    """The candidates list: under the rule, with no disconnection already under way; longest
    overdue first."""
    return (under_the_rule(today=today, cfg=cfg)
            .exclude(Exists(Disconnection.objects.filter(client_id=OuterRef("pk"), status__in=UNDER_WAY)))
            .annotate(last_payment=last_payment())
            .order_by("oldest_due", "account_number"))


def plans_list(*, status: str = "") -> QuerySet[PaymentPlan]:
    qs = PaymentPlan.objects.select_related("client")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created", "-id")


def disconnections_list(*, status: str = "") -> QuerySet[Disconnection]:
    qs = Disconnection.objects.select_related("client", "disconnect_order", "reconnect_order")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created", "-id")


def client_plan(client_id: int) -> PaymentPlan | None:
    """The client's current plan (active or asked for), else its latest one."""
    plans = PaymentPlan.objects.filter(client_id=client_id).prefetch_related("instalments")
    return plans.filter(status__in=["active", "requested"]).first() or plans.first()


def client_arrears(client_id: int) -> dict[str, object]:
    """For the client page: the current (or latest) plan and the latest disconnection."""
    return {"plan": PaymentPlan.objects.filter(client_id=client_id).order_by(
                # an open plan first, else the latest
                F("ended").desc(nulls_first=True), "-created").first(),
            "disconnection": Disconnection.objects.filter(client_id=client_id).order_by("-created", "-id").first()}
