"""Django admin for the platform: providers (suspend, reactivate, close, erase: actions that reach
the privacy app), domains, policy versions, the outbox. Here, at the top of the stack, because
closing a provider goes through every app's data."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tenants.admin import TenantAdminMixin
from django_tenants.utils import schema_context

from tenants.models import Domain, PolicyVersion, Provider, ProviderEvent, UnsentTask
from tenants.selectors import providers
from tenants.services import (
    logo_check,
    policy_version_publish,
    provider_reactivate,
    provider_suspend,
)


def _admin_email(request: HttpRequest) -> str:
    """Who ran an admin action: the signed-in admin's login, their email (USERNAME_FIELD)."""
    return request.user.get_username()


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class ProviderEventInline(admin.TabularInline):
    model = ProviderEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "actor", "extra_data", "created"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ProviderAdminForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Provider
        fields = ["name", "contact_email", "address", "kra_pin", "brand_color", "website", "logo"]

    def clean_kra_pin(self) -> str:
        return "".join(self.cleaned_data["kra_pin"].split()).upper()

    def clean_logo(self) -> object:
        logo = self.cleaned_data.get("logo")
        # A new upload is judged by its bytes, as in the dashboard; the stored one is left alone.
        return logo_check(logo) if isinstance(logo, UploadedFile) else logo


@admin.register(Provider)
class ProviderAdmin(TenantAdminMixin, admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = ["name", "slug", "status", "contact_email", "created"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "contact_email", "domains__domain"]
    readonly_fields = ["schema_name", "slug", "status", "created"]
    fields = ["name", "schema_name", "slug", "contact_email", "status", "created",
              "address", "kra_pin", "brand_color", "website", "logo"]
    inlines = [DomainInline, ProviderEventInline]
    actions = ["suspend", "reactivate", "close", "erase"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        return super().get_queryset(request).exclude(schema_name="public").exclude(is_template=True)

    def save_model(self, request: HttpRequest, obj: Provider, form: forms.ModelForm, change: bool) -> None:
        # The logo goes to the provider's own storage (MEDIA_ROOT/<schema>/), where its bills
        # and its dashboard read it, not to the platform's.
        with schema_context(obj.schema_name):
            super().save_model(request, obj, form, change)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Providers are created by sign-up or `create_provider`, which also make the owner.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Billing records are kept 7 years: a provider is suspended, never deleted from here.
        return False

    @admin.action(description="Suspend selected providers", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_suspend(provider=provider, actor=_admin_email(request), reason="admin action")
        messages.success(request, f"Suspended {queryset.count()} provider(s).")

    @admin.action(description="Reactivate selected providers", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_reactivate(provider=provider, actor=_admin_email(request))
        messages.success(request, f"Reactivated {queryset.count()} provider(s).")


    @admin.action(description="Close selected providers (erase personal data, keep records for retention)",
                  permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        from privacy.provider import ProviderClosureError, provider_close

        for provider in queryset:
            try:
                counts = provider_close(provider=provider, actor=_admin_email(request), reason="admin action")
            except ProviderClosureError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Closed {provider.name}: {counts.get('clients', 0)} clients' personal data "
                                          "erased, records kept under pseudonyms until retention ends.")

    @admin.action(description="Erase the schema of closed providers whose retention has ended",
                  permissions=["change"])
    def erase(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        from privacy.provider import ProviderClosureError, provider_erase

        for provider in queryset:
            name = provider.name
            try:
                provider_erase(provider=provider, actor=_admin_email(request))
            except ProviderClosureError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"Erased {name}: its schema is gone.")


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]
    search_fields = ["domain", "tenant__name"]
    list_select_related = ["tenant"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Domain]:
        # The platform's own domain is managed by `setup_platform` from BASE_DOMAIN, not here.
        return super().get_queryset(request).exclude(tenant__schema_name="public")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == "tenant":
            # Never route a host to the public tenant or the clone template.
            kwargs["queryset"] = providers()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Drafts are written and previewed here, then published with the action: a published
    version is never edited (users accepted exactly that text), a new one replaces it."""

    list_display = ["kind", "version", "title", "status", "published_at", "published_by"]
    list_filter = ["kind"]
    fields = ["kind", "version", "title", "summary", "body", "preview", "published_at", "published_by"]
    readonly_fields = ["preview", "published_at", "published_by"]
    actions = ["publish"]

    @admin.display(description="Status")
    def status(self, obj: PolicyVersion) -> str:
        if not obj.is_published:
            return "Draft"
        return "Earlier version" if not obj.asks_acceptance and obj.published_by == "migration" else "Published"

    @admin.display(description="Preview")
    def preview(self, obj: PolicyVersion) -> str:
        return obj.body_html if obj.pk else "Save the draft to see it as the site will show it."

    def get_readonly_fields(self, request: HttpRequest, obj: PolicyVersion | None = None) -> list[str]:
        if obj is not None and obj.is_published:
            return cast("list[str]", list(self.fields))  # field names, no groups
        return list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: PolicyVersion | None = None) -> bool:
        return obj is None or not obj.is_published

    def get_deleted_objects(self, objs, request):  # type: ignore[no-untyped-def]
        # The bulk delete action must not reach published versions either.
        if any(o.is_published for o in objs):
            to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
            return to_delete, model_count, perms_needed | {"published policy versions"}, protected
        return super().get_deleted_objects(objs, request)

    @admin.action(description="Publish the selected drafts (users are emailed and asked to accept)",
                  permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        done = 0
        for version in queryset.order_by("kind", "version"):
            try:
                policy_version_publish(version=version, actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{version}: {' '.join(exc.messages)}")
            else:
                done += 1
        if done:
            messages.success(request, f"Published {done} version(s). Users are being emailed.")


@admin.register(UnsentTask)
class UnsentTaskAdmin(admin.ModelAdmin):
    """Task messages waiting for the broker (Redis) to come back: normally none. Read-only; they
    are sent by themselves within seconds of the broker answering again."""

    list_display = ["task_name", "schema_name", "created", "eta", "attempts", "last_error"]
    list_filter = ["task_name", "schema_name"]
    readonly_fields = ["schema_name", "task_name", "task_id", "eta", "attempts", "last_error", "created"]
    exclude = ["payload", "fingerprint"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UnsentTask | None = None) -> bool:
        return False
