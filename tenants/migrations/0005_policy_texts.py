"""The privacy policy and terms as the public site showed them (templates/public/privacy.html and
terms.html) become their first recorded versions, POLICY_VERSION: sign-ups accepted exactly these
texts, so nobody is asked to accept them again (asks_acceptance off)."""

from datetime import UTC, datetime

from django.db import migrations

VERSION = "2026-11-23"
PUBLISHED = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)  # 23 Nov 2026 00:00 in Nairobi

PRIVACY = """How MajiSmart and the water providers that use it handle personal data, in line with Kenya's Data Protection Act, 2019.

## What we collect

Names, email addresses, phone numbers, business details, payment information, usage data (IP address, device, browsing), meter readings and water consumption.

## How we protect it

Sensitive fields — phone numbers, national ID numbers, M-Pesa phone numbers and providers' payment credentials — are encrypted at rest, and looked up through keyed indexes rather than stored in clear. Access follows roles (owner, manager, accountant, meter reader, client), and every provider's data lives in its own database schema that no other provider can reach. We keep an audit trail of who saw or changed personal data.

## Why we use it

Only to provide the service, bill, communicate with you, improve the service, comply with the law and prevent fraud. We never sell personal data.

## How long we keep it

Billing and water-usage records are kept for 7 years, then deleted by a scheduled job. Other data is kept only as long as necessary; usage logs and payment callback payloads are kept for much shorter periods.

## Your rights

You can access your data and get a machine-readable copy, correct it, ask for deletion where no legal duty requires us to keep it, object to or restrict processing, and withdraw consent — yourself, from your portal, or through your water provider. Every request is logged with its due date.

## Cookies

We use cookies for sessions and preferences. Analytics cookies are used only with your consent.

## Children

MajiSmart accounts are not for children under 18: opening a provider account requires the owner to confirm they are an adult.

## Changes

Policy changes are versioned; we notify users and record their acceptance."""

TERMS = """MajiSmart provides water billing software to water service providers ("providers"). A provider is responsible for the accuracy of its tariffs, readings and client records, and for its dealings with its clients.

## Accounts

The person opening a provider account must be 18 or older and authorised to act for the provider. Keep passwords private; you are responsible for activity under your account.

## Acceptable use

Use MajiSmart only for lawful billing of water and related services. Do not attempt to access another provider's data.

## Payments

Payments from clients go directly to the provider's own M-Pesa paybill, bank or Paystack account. MajiSmart records and reconciles them but does not hold clients' money.

## Data

Personal data is handled as our [privacy policy](/privacy/) describes. Billing records are retained for 7 years.

## Suspension

We may suspend a provider account for non-payment or misuse; payments arriving during a suspension are still recorded."""

TEXTS = [
    ("privacy", "Privacy policy", PRIVACY),
    ("terms", "Terms of service", TERMS),
]


def create_first_versions(apps, schema_editor):
    if schema_editor.connection.schema_name != "public":
        return
    PolicyVersion = apps.get_model("tenants", "PolicyVersion")
    for kind, title, body in TEXTS:
        PolicyVersion.objects.get_or_create(kind=kind, version=VERSION, defaults={
            "title": title, "body": body, "summary": "The first recorded version.",
            "asks_acceptance": False, "published_at": PUBLISHED, "published_by": "migration"})


def remove_first_versions(apps, schema_editor):
    apps.get_model("tenants", "PolicyVersion").objects.filter(version=VERSION, published_by="migration").delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_policyversion")]
    operations = [migrations.RunPython(create_first_versions, remove_first_versions)]
