"""The dashboard home's figures, by role (the page: web.views.home): money for owner, manager and accountant; the
month's reading round, by zone, for those who read meters; the set-up checklist for owner and
manager until everything on it is done."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.permissions import has_capability
from majismart.charts import grouped_bar_chart
from meters.selectors import reading_round
from payments.selectors import money_at_a_glance, onboarding_checklist


def home_figures(request: HttpRequest) -> dict[str, object]:
    from clients.models import Client
    from meters.models import Reading

    user = request.user
    sees_money = has_capability(user, "reports.view")
    reads = has_capability(user, "readings.record")
    context: dict[str, object] = {
        "sees_money": sees_money, "reads_meters": reads,
        # "Captured by you" is for the meter reader walking the route; the others see the round.
        "round": reading_round(user=user if reads and not sees_money else None),
        "client_count": Client.objects.filter(status=Client.Status.ACTIVE).count(),
    }
    if has_capability(user, "readings.review"):
        context["review_count"] = Reading.objects.filter(status=Reading.Status.FLAGGED).count()
    if sees_money:
        money = money_at_a_glance()
        context["money"] = money
        context["chart"] = grouped_bar_chart(
            [m.label for m in money.months],
            [("Billed", [m.billed for m in money.months]), ("Collected", [m.collected for m in money.months])])
    if has_capability(user, "clients.manage"):  # owner and manager: the people setting the provider up
        checklist = onboarding_checklist()
        if not checklist.complete:
            context["checklist"] = checklist
    return context
