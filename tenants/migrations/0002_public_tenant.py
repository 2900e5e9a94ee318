"""The public tenant (the platform's own site on BASE_DOMAIN) is created by the migrations, so a
fresh database serves the public site after `migrate_schemas` alone."""

from django.conf import settings
from django.db import migrations


def create_public_tenant(apps, schema_editor):
    if schema_editor.connection.schema_name != "public":
        return
    Provider = apps.get_model("tenants", "Provider")
    Domain = apps.get_model("tenants", "Domain")
    # The historical model has no TenantMixin.save(): no schema is created, and none is needed.
    public, _ = Provider.objects.get_or_create(
        schema_name="public",
        defaults={"slug": "public", "name": "MajiSmart", "callback_token": "platform-not-a-provider"},
    )
    Domain.objects.get_or_create(domain=settings.BASE_DOMAIN, defaults={"tenant": public, "is_primary": True})


def remove_public_tenant(apps, schema_editor):
    apps.get_model("tenants", "Domain").objects.filter(tenant__schema_name="public").delete()
    apps.get_model("tenants", "Provider").objects.filter(schema_name="public").delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(create_public_tenant, remove_public_tenant)]
