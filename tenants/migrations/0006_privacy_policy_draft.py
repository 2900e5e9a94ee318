"""A draft of the next privacy policy (2026-12-10): who does what with the data (the provider is
the controller, MajiSmart its processor), the processors it passes data to, transfers, breaches,
and how to complain to the Data Protection Commissioner. A draft, not in force: a platform admin
reviews it in Django admin and publishes it, which emails every user and asks each to accept it
at their next login (tenants.services.policy_version_publish)."""

from django.db import migrations

VERSION = "2026-12-10"

SUMMARY = ("Names the companies that process data for us (M-Pesa, SMS, card payments, email, hosting), says who "
           "is responsible for your data, and how to complain to the Data Protection Commissioner.")

BODY = """How MajiSmart and the water providers that use it handle personal data, in line with Kenya's Data Protection Act, 2019 and its 2021 Regulations.

## Who is responsible

Your water provider decides why and how your data is used: it is the data controller. MajiSmart runs the billing software for it and processes the data only on its instructions: we are its data processor, under a data processing agreement with each provider. For anything about your account, contact your water provider first.

## What we collect

Names, email addresses, phone numbers, national ID numbers where the provider records them, addresses, meter readings and water consumption, bills and payments, messages sent to you, and usage data (IP address, device, pages used).

## How we protect it

Personal fields are encrypted at rest and found through keyed indexes rather than stored in clear. Access follows roles (owner, manager, accountant, meter reader, client), and every provider's data lives in its own database schema that no other provider can reach. We keep an audit trail of who saw or changed personal data.

## Why we use it

Only to provide the service, bill, take payment, communicate with you, keep the service secure, comply with the law and prevent fraud. We never sell personal data. Messages other than bills and service notices, and analytics, need your consent, which you can withdraw at any time in your portal.

## Who else processes it

To do the work, some data passes to these companies, each only for its task:

- Safaricom (M-Pesa): your phone number and the amount, to take and confirm M-Pesa payments.
- Africa's Talking: your phone number and the message, to send SMS.
- Paystack: your email and the amount, when you pay by card (card details go to Paystack, never to us).
- Our email delivery provider: your email address and the message, to send email.
- Our hosting provider: stores the encrypted database and files on our behalf.

Where one of them stores data outside Kenya, it does so with the safeguards the Act requires.

## How long we keep it

Bills, payments, the ledger and meter readings are kept for 7 years (your provider may choose up to 10), then removed by a scheduled job; a closed account's name and contact details are then replaced by a pseudonym. Payment callbacks, message logs, audit logs and data exports are kept for much shorter periods, which your provider sets within legal bounds.

## Your rights

You can get a copy of your data in a machine-readable form, have it corrected, ask for deletion where no legal duty requires it to be kept, object to or restrict a use of it, and withdraw consent — yourself, from your portal, or through your water provider. Every request is logged with its due date: 7 days in most cases. If a request is refused you are told why.

## Complaints

If you are not satisfied with how your provider or MajiSmart handled your data or your request, you may complain to the Office of the Data Protection Commissioner (ODPC): [www.odpc.go.ke](https://www.odpc.go.ke).

## Breaches

If personal data is ever exposed, the provider tells the Data Protection Commissioner within 72 hours of becoming aware of it (we tell the provider within 48 hours), and the people affected are told as soon as practical.

## Cookies

We use cookies for sessions and preferences. Analytics cookies are used only with your consent.

## Children

MajiSmart accounts are not for children under 18: opening an account requires confirming you are an adult.

## Changes

Policy changes are versioned; we notify users by email and ask each to accept the new version at their next login."""


def create_draft(apps, schema_editor):
    if schema_editor.connection.schema_name != "public":
        return
    PolicyVersion = apps.get_model("tenants", "PolicyVersion")
    PolicyVersion.objects.get_or_create(kind="privacy", version=VERSION, defaults={
        "title": "Privacy policy", "body": BODY, "summary": SUMMARY, "asks_acceptance": True})


def remove_draft(apps, schema_editor):
    apps.get_model("tenants", "PolicyVersion").objects.filter(
        kind="privacy", version=VERSION, published_at__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_policy_texts")]
    operations = [migrations.RunPython(create_draft, remove_draft)]
