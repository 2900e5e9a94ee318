"""Dashboard: the provider's retention settings (owner only): the policy within its legal
bounds, the last runs with what each removed, and a dry run on demand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Field
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from accounts.permissions import require_capability
from privacy.models import RetentionPolicy, RetentionRun
from privacy.retention import POLICY_FIELDS, RULE_LABELS, retention_apply, retention_policy_update

RUNS_SHOWN = 10


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = list(POLICY_FIELDS)
        labels = {"billing_years": "Bills, payments, ledger and readings", "callback_days": "Raw payment callbacks",
                  "audit_months": "Audit and log-in logs", "notification_months": "Message log",
                  "export_days": "Data export downloads"}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # The model's legal bounds, shown on the inputs too (the model validates them).
        for name, f in self.fields.items():
            model_field = cast("Field[Any, Any]", RetentionPolicy._meta.get_field(name))  # a column
            for v in model_field.validators:
                if isinstance(v, MinValueValidator):
                    f.widget.attrs["min"] = v.limit_value
                elif isinstance(v, MaxValueValidator):
                    f.widget.attrs["max"] = v.limit_value
            f.widget.attrs["inputmode"] = "numeric"


UNITS = {"billing_years": "years", "callback_days": "days", "audit_months": "months", "notification_months": "months",
         "export_days": "days"}


def _counts(run: RetentionRun) -> list[tuple[str, int]]:
    return [(label, run.counts.get(key, 0)) for key, label in RULE_LABELS.items() if run.counts.get(key)]


def _runs() -> list[tuple[RetentionRun, list[tuple[str, int]]]]:
    """The nightly (and admin) runs that removed records; previews are shown where they are made."""
    return [(run, _counts(run)) for run in RetentionRun.objects.filter(dry_run=False)[:RUNS_SHOWN]]


def _page(request: HttpRequest, form: RetentionPolicyForm, preview: dict | None = None) -> HttpResponse:
    fields = [(form[name], UNITS[name], cast("Field[Any, Any]", RetentionPolicy._meta.get_field(name)).help_text)
              for name in POLICY_FIELDS]
    response = render(request, "privacy/retention.html", {
        "active": "privacy", "form": form, "fields": fields, "runs": _runs(), "preview": preview},
        status=400 if form.errors else 200)
    add_never_cache_headers(response)
    return response


@require_capability("settings.manage")
def retention_settings(request: HttpRequest) -> HttpResponse:
    policy = RetentionPolicy.load()
    form = RetentionPolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        retention_policy_update(actor=request.user, **{name: form.cleaned_data[name] for name in POLICY_FIELDS})
        messages.success(request, "Retention settings saved.")
        return redirect("privacy_retention")
    return _page(request, form)


@require_POST
@require_capability("settings.manage")
def retention_preview(request: HttpRequest) -> HttpResponse:
    """A dry run now of the periods in the form (saved or not): the counts of what they would
    remove today. Nothing is removed and nothing is saved; the form keeps what was typed."""
    saved = RetentionPolicy.load()
    values = {name: getattr(saved, name) for name in POLICY_FIELDS}
    # The form validates an unsaved instance (never the saved row), and the run is given plain
    # values: nothing here can write the policy.
    form = RetentionPolicyForm(request.POST, instance=RetentionPolicy(**values))
    if not form.is_valid():
        return _page(request, form)
    tried = SimpleNamespace(**{name: form.cleaned_data[name] for name in POLICY_FIELDS})
    run = retention_apply(dry_run=True, actor=request.user, policy=tried)
    changed = [str(form.fields[name].label) for name in POLICY_FIELDS if getattr(tried, name) != values[name]]
    total = sum(v for k, v in run.counts.items() if k != "balances_brought_forward")
    return _page(request, form, {"run": run, "counts": _counts(run), "total": total, "unsaved": changed})
