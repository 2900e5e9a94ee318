from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tenants.admin import TenantAdminMixin
from django_tenants.utils import schema_context

from tenants.models import Domain, Provider, ProviderEvent
from tenants.selectors import providers
from tenants.services import logo_check, provider_reactivate, provider_suspend


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
    actions = ["suspend", "reactivate"]

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
            provider_suspend(provider=provider, actor=request.user.email, reason="admin action")
        messages.success(request, f"Suspended {queryset.count()} provider(s).")

    @admin.action(description="Reactivate selected providers", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            provider_reactivate(provider=provider, actor=request.user.email)
        messages.success(request, f"Reactivated {queryset.count()} provider(s).")


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
