"""How the audit viewer words a row: a sentence for each action code and readable details
(the codes and extra_data stay as stored; the code is shown on hover)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ACTION_LABELS = {
    "adjustment.posted": "Posted a ledger adjustment",
    "api_key.created": "Created an API key",
    "api_key.revoked": "Revoked an API key",
    "api_key.used": "Used an API key",
    "audit.purged": "Removed audit rows past their retention",
    "audit.viewed": "Viewed the audit log",
    "auth.locked_out": "Locked out after failed log-ins",
    "auth.login": "Logged in",
    "auth.login_failed": "Failed to log in",
    "auth.logout": "Logged out",
    "auth.other_sessions_ended": "Signed out of their other sessions",
    "auth.password_changed": "Changed their password",
    "auth.recovery_codes_regenerated": "Made new two-factor recovery codes",
    "auth.two_factor_disabled": "Turned off two-factor authentication",
    "auth.two_factor_enrolled": "Turned on two-factor authentication",
    "auth.two_factor_failed": "Typed a wrong two-factor code",
    "billing_rules.updated": "Changed the billing rules",
    "billing_run.created": "Started a billing run",
    "billing_run.discarded": "Discarded a billing run",
    "billing_run.finalized": "Issued a billing run",
    "billing_run.recomputed": "Recomputed a billing run",
    "broadcast.created": "Sent a broadcast",
    "client.account_closed": "Closed an account (deposit settled)",
    "client.created": "Added a client",
    "client.messaged": "Messaged a client",
    "client.updated": "Changed a client",
    "client.viewed": "Viewed a client",
    "clients.category_added": "Added a client category",
    "clients.exported": "Downloaded the client list",
    "clients.imported": "Imported clients",
    "clients.listed": "Listed clients",
    "clients.numbering_changed": "Changed account numbering",
    "clients.searched": "Searched clients",
    "clients.zone_added": "Added a zone",
    "credit_note.created": "Issued a credit note",
    "fee.charged": "Charged a fee",
    "fee.created": "Added a fee to the catalogue",
    "fee.reversed": "Reversed a fee",
    "fee.updated": "Changed a fee in the catalogue",
    "invoice.exported": "Downloaded a bill",
    "leak_alert.closed": "Closed a leak alert",
    "leak_alert.settings_changed": "Changed the leak alert rules",
    "ledger.reversed": "Reversed a ledger entry",
    "meter.created": "Added a meter",
    "meter.replaced": "Replaced a meter",
    "notifications.consent_changed": "Changed message consent",
    "notifications.settings_changed": "Changed message settings",
    "notifications.template_changed": "Changed a message template",
    "notifications.template_reset": "Reset a message template",
    "notifications.test_sent": "Sent a test message",
    "payment.assigned": "Assigned a payment to a client",
    "payment.recorded": "Recorded a payment",
    "payment.refunded": "Marked a payment refunded",
    "payment.reversed": "Reversed a payment",
    "payments.bank_statement_imported": "Imported a bank statement",
    "payments.c2b_register_failed": "M-Pesa refused the callback addresses",
    "payments.c2b_registered": "Registered the callback addresses with M-Pesa",
    "payments.settings_changed": "Changed payment settings",
    "payments.statement_reconciled": "Reconciled an M-Pesa statement",
    "policy.accepted": "Accepted a policy",
    "policy.published": "Published a policy",
    "portal.registered": "Registered for the portal",
    "profile.updated": "Changed their profile",
    "privacy.client_erased": "Erased a client's personal data",
    "privacy.clients_erased": "Erased clients' personal data",
    "privacy.export_downloaded": "Downloaded a data export",
    "privacy.export_ready": "Data export ready",
    "privacy.export_requested": "Asked for a data export",
    "privacy.provider_closed": "Closed the provider",
    "privacy.provider_erased": "Erased the provider",
    "privacy.request_viewed": "Viewed a privacy request",
    "privacy.retention.settings_changed": "Changed retention periods",
    "privacy.retention_applied": "Applied retention",
    "provider.branding_changed": "Changed branding",
    "reading.accepted": "Accepted a reading",
    "reading.rejected": "Rejected a reading",
    "staff.deactivated": "Deactivated a member of staff",
    "staff.invite_accepted": "Accepted an invitation to the team",
    "staff.invite_resent": "Resent a staff invitation",
    "staff.invite_revoked": "Revoked a staff invitation",
    "staff.invited": "Invited someone to the team",
    "staff.ownership_handed_over": "Handed over ownership",
    "staff.reactivated": "Reactivated a member of staff",
    "staff.role_changed": "Changed a staff role",
    "security.settings_changed": "Changed who must use two-factor authentication",
    "statement.exported": "Downloaded a statement",
    "statement.viewed": "Viewed a statement",
    "tariff.created": "Created a tariff",
}

# privacy.request_<kind> (made) and privacy.request_<status> (closed).
_REQUEST_ENDINGS = {
    "export": "Asked for a copy of their data", "correction": "Asked for a correction",
    "deletion": "Asked for deletion", "objection": "Objected to a use of their data",
    "restriction": "Asked to restrict a use of their data",
    "done": "Closed a privacy request as done", "refused": "Refused a privacy request",
}

# extra_data keys with a wording of their own; the rest are humanised ("client_ids" below).
_DETAIL_LABELS = {"fields": "Fields", "count": "Count", "rows": "Rows", "deleted": "Deleted", "cutoff": "Before",
                  "cutoffs": "Cutoffs", "counts": "Counts", "reason": "Reason", "format": "Format",
                  "key": "Key", "requests": "Requests", "period": "Period", "status": "Status"}
_HIDDEN = {"before", "after", "client_ids"}


def action_label(code: str) -> str:
    if code in ACTION_LABELS:
        return ACTION_LABELS[code]
    if code.startswith("privacy.request_"):
        ending = code.removeprefix("privacy.request_")
        return _REQUEST_ENDINGS.get(ending, f"Privacy request: {ending.replace('_', ' ')}")
    words = code.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "—"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changes(before: dict, after: dict) -> Iterable[str]:
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            yield f"{key.replace('_', ' ')}: {_value(before.get(key, '—'))} → {_value(after.get(key, '—'))}"


def details(extra: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs for a row's extra_data, in a stable order, each short enough for a
    table cell. Settings changes show before → after; a list of client ids shows its size."""
    rows: list[tuple[str, str]] = []
    for key, value in extra.items():
        if key in _HIDDEN or value in (None, "", [], {}):
            continue
        label = _DETAIL_LABELS.get(key) or key.replace("_", " ").capitalize()
        text = _value(value)
        rows.append((label, text if len(text) <= 120 else text[:119] + "…"))
    before, after = extra.get("before"), extra.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        changed = list(_changes(before, after))
        if changed:
            text = "; ".join(changed)
            rows.append(("Changed", text if len(text) <= 240 else text[:239] + "…"))
    ids = extra.get("client_ids")
    if isinstance(ids, list) and ids:
        rows.append(("Clients", f"{len(ids)} client{'s' if len(ids) != 1 else ''}"))
    return rows
