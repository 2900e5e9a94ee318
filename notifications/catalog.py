"""The messages MajiSmart sends: each event's purpose, placeholders and default wording.

The apps above compose the values (billing and payments know amounts, pay links and paybills);
providers may reword any template (MessageTemplate), with these placeholders only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext, gettext_noop, override

from notifications.models import Channel, Purpose

COMMON = ("provider", "name", "account")


@dataclass(frozen=True)
class Event:
    key: str
    label: str
    purpose: str
    placeholders: tuple[str, ...]
    sms: str = ""
    email_subject: str = ""
    email_body: str = ""
    sample: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # False: an answer the client asked for just now (USSD, an incoming SMS), never held for
    # the provider's quiet hours.
    quiet_hours: bool = True

    @property
    def channels(self) -> list[str]:
        return [c for c, text in ((Channel.SMS, self.sms), (Channel.EMAIL, self.email_body)) if text]

    def allowed(self) -> set[str]:
        return set(COMMON) | set(self.placeholders)

    def default(self, channel: str, language: str) -> tuple[str, str]:
        """(subject, body) of the default wording in LANGUAGE: the texts above are English and the
        message catalogue (locale/) has their Kiswahili."""
        def said(text: str) -> str:
            return gettext(text) if text else ""  # gettext("") is the catalogue's header

        with override(language):
            if channel == Channel.SMS:
                return "", said(self.sms)
            return said(self.email_subject), said(self.email_body)


SAMPLE = {"provider": "Mombasa Water Works", "name": "Esther Njeri", "account": "MWW00042",
          "period": "Oct 2026", "invoice": "INV-2026-000123", "amount": "KES 1,948.75",
          "amount_due": "KES 2,448.75", "due_date": "16 Nov 2026", "how_to_pay": "Paybill 174379 Acc MWW00042",
          "paybill": "174379", "pay_link": "https://mombasa-water.majismart.co.ke/pay/1a-2kq-AbCdEfGhIjKlMnOp/",
          "portal_link": "https://mombasa-water.majismart.co.ke/portal/", "receipt": "TKL8A1B2C3",
          "date": "12 Nov 2026", "balance": "KES 500.00", "method": "M-Pesa", "days": "3",
          "link": "https://mombasa-water.majismart.co.ke/accounts/reset/…", "text": "Your message here.",
          "nothing_to_pay": "Nothing to pay; credit of KES 500.00",
          "count": "2", "overdue": "1", "code": "482913", "title": "privacy policy", "version": "2026-12-01",
          "summary": "We now keep payment callbacks for 90 days.",
          "role": "Meter reader", "inviter": "Alice Achieng",
          "reference": "SR-2026-000123", "kind": "leak", "due": "13 Nov 2026 09:30",
          "resolution": "The pipe at the meter was repaired.",
          "instalment": "KES 3,333.33", "meter": "MW-20417", "volume": "25.000", "since": "02 Nov 2026", "reason": "Please pay the October bill first."}

EVENTS: dict[str, Event] = {e.key: e for e in [
    Event("invoice_issued", "Bill issued", Purpose.BILLING,
          ("period", "invoice", "amount", "amount_due", "due_date", "how_to_pay", "paybill", "pay_link",
           "portal_link"),
          sms=gettext_noop("{provider}: {period} bill {amount_due} due {due_date}. {how_to_pay}. {pay_link}"),
          email_subject=gettext_noop("Your {period} water bill from {provider}: {amount_due} due {due_date}"),
          email_body=gettext_noop("Dear {name},\n\nYour water bill {invoice} for {period} is {amount}. With your earlier "
                     "balance, {amount_due} is due by {due_date}. The bill is attached.\n\n"
                     "How to pay: {how_to_pay}, or pay online: {pay_link}\n\n"
                     "See your usage and bills: {portal_link}\n\n{provider}"),
          description="Sent when a billing run is finalised, with the bill PDF attached to the email."),
    Event("invoice_nothing_to_pay", "Bill issued, nothing to pay", Purpose.BILLING,
          ("period", "invoice", "amount", "nothing_to_pay", "portal_link"),
          sms=gettext_noop("{provider}: {period} bill {amount} for acc {account}. {nothing_to_pay}."),
          email_subject=gettext_noop("Your {period} water bill from {provider}: nothing to pay"),
          email_body=gettext_noop("Dear {name},\n\nYour water bill {invoice} for {period} is {amount}. {nothing_to_pay}: "
                     "your earlier payments cover it. The bill is attached.\n\n"
                     "See your usage and bills: {portal_link}\n\n{provider}"),
          description="Sent instead of \"Bill issued\" when, after the bill, the client owes nothing (unless "
                      "the SMS & email settings say to send nothing then)."),
    Event("payment_received", "Payment received", Purpose.BILLING,
          ("amount", "receipt", "date", "balance", "method"),
          sms=gettext_noop("{provider}: we received {amount} for acc {account} on {date}, ref {receipt}. "
              "Balance {balance}. Thank you."),
          email_subject=gettext_noop("Payment received: {amount} ({receipt})"),
          email_body=gettext_noop("Dear {name},\n\nWe received your {method} payment of {amount} for account {account} "
                     "on {date} (reference {receipt}). Your balance is now {balance}. The receipt is "
                     "attached.\n\nThank you,\n{provider}"),
          description="Sent for every payment that reaches an account (the receipt)."),
    Event("reminder_due", "Reminder before due date", Purpose.BILLING,
          ("amount_due", "due_date", "days", "how_to_pay", "paybill", "pay_link"),
          sms=gettext_noop("{provider}: reminder, {amount_due} due {due_date}. {how_to_pay}. {pay_link}"),
          email_subject=gettext_noop("Reminder: {amount_due} due on {due_date}"),
          email_body=gettext_noop("Dear {name},\n\nA reminder that {amount_due} for account {account} is due on "
                     "{due_date}.\n\nHow to pay: {how_to_pay}, or online: {pay_link}\n\n"
                     "If you have paid already, thank you and please ignore this message.\n\n{provider}"),
          description="Sent the set number of days before a bill's due date, if it is still unpaid."),
    Event("overdue", "Overdue notice", Purpose.BILLING,
          ("amount_due", "due_date", "days", "how_to_pay", "paybill", "pay_link"),
          sms=gettext_noop("{provider}: OVERDUE, {amount_due} was due {due_date}. {how_to_pay}. {pay_link}"),
          email_subject=gettext_noop("Overdue: {amount_due} was due on {due_date}"),
          email_body=gettext_noop("Dear {name},\n\nOur records show {amount_due} for account {account} was due on "
                     "{due_date}. Please pay now to avoid late-payment penalties.\n\nHow to pay: "
                     "{how_to_pay}, or online: {pay_link}\n\n{provider}"),
          description="Sent the set number of days after the due date, if the bill is still unpaid."),
    Event("disconnection", "Disconnection notice", Purpose.BILLING,
          ("amount_due", "due_date", "days", "how_to_pay", "paybill", "pay_link"),
          sms=gettext_noop("{provider}: pay {amount_due} (due {due_date}) within 7 days to avoid disconnection. {pay_link}"),
          email_subject=gettext_noop("Disconnection notice for account {account}"),
          email_body=gettext_noop("Dear {name},\n\nAccount {account} has {amount_due} unpaid since {due_date}. Unless it is "
                     "paid within 7 days, your water supply may be disconnected.\n\nHow to pay: {how_to_pay}, "
                     "or online: {pay_link}\n\nIf you have paid already, please ignore this notice.\n\n{provider}"),
          description="Sent once a bill is the set number of days overdue."),
    Event("broadcast", "Announcement", Purpose.SUPPLY, ("text",),
          sms=gettext_noop("{text}"), email_subject=gettext_noop("{provider}: announcement"), email_body=gettext_noop("Dear {name},\n\n{text}\n\n{provider}"),
          description="A broadcast to a zone, category or everyone; the text is written each time."),
    Event("account_message", "Message to one client", Purpose.BILLING, ("text",),
          sms=gettext_noop("{provider}: {text}"), email_subject=gettext_noop("A message from {provider}"),
          email_body=gettext_noop("Dear {name},\n\n{text}\n\n{provider}"),
          description="Written by staff from a client's page."),
    Event("service_request_received", "Service request received", Purpose.BILLING,
          ("reference", "kind", "due", "portal_link"),
          sms=gettext_noop("{provider}: we received your report ({kind}), ref {reference}. We aim to deal with it by {due}."),
          email_subject=gettext_noop("{provider}: we received your report {reference}"),
          email_body=gettext_noop("Dear {name},\n\nWe received your report ({kind}) on account {account}. Its reference is "
                     "{reference}; we aim to deal with it by {due}.\n\nFollow it in your account: {portal_link}"
                     "\n\n{provider}"),
          description="Sent when a client's service request or complaint is recorded (portal, phone, office, API)."),
    Event("service_request_resolved", "Service request resolved", Purpose.BILLING,
          ("reference", "kind", "resolution", "portal_link"),
          sms=gettext_noop("{provider}: your report {reference} ({kind}) is resolved: {resolution}"),
          email_subject=gettext_noop("{provider}: your report {reference} is resolved"),
          email_body=gettext_noop("Dear {name},\n\nYour report {reference} ({kind}) on account {account} is resolved.\n\n"
                     "{resolution}\n\nIf the problem is still there, tell us: {portal_link}\n\n{provider}"),
          description="Sent when staff resolve a client's service request, with what was done."),
    # Leak and spike alerts (issue 21): once per episode, from meters.alerts.
    Event("leak_alert", "Possible leak", Purpose.BILLING, ("meter", "volume", "since", "link"),
          sms=gettext_noop("{provider}: possible leak: {volume} m3 used since {since}, above usual. Report: {link}"),
          email_subject=gettext_noop("{provider}: possible leak on account {account}"),
          email_body=gettext_noop("Dear {name},\n\nThe readings of meter {meter} on account {account} show {volume} m³ used "
                     "since {since}, well above your usual use. This can be a leak: please check your taps, tanks "
                     "and pipes.\n\nIf you think it is a leak, tell us and we will send someone: {link}\n\n{provider}"),
          sample={"link": "https://mombasa-water.majismart.co.ke/leak/2k-AbCdEfGhIjKl/"},
          description="Sent once per alert when an accepted reading shows use well above the meter's usual, or "
                      "continuous use on a meter read daily (Readings → Leak alerts)."),
    Event("password_reset", "Password reset", Purpose.ACCOUNT, ("link",),
          email_subject=gettext_noop("Reset your {provider} password"),
          email_body=gettext_noop("Someone asked to reset the password of your {provider} account.\n\n"
                     "To choose a new password, open: {link}\n\nIf it wasn't you, ignore this email: "
                     "your password stays as it is.\n\n{provider}"),
          description="Sent when a user asks for a password reset (never held, never opted out)."),
    Event("staff_invite", "Staff invitation", Purpose.ACCOUNT, ("link", "role", "inviter", "days"),
          email_subject=gettext_noop("{inviter} invited you to {provider} on MajiSmart"),
          email_body=gettext_noop("Hello,\n\n{inviter} invited you to join {provider} on MajiSmart as {role}.\n\n"
                     "To set your name and password, open: {link}\n\nThe link works once and for {days} days. "
                     "If you were not expecting this, ignore this email.\n\n{provider}"),
          description="Sent when an owner or manager invites someone to the team (never held, never opted out)."),
    Event("registration_code", "Portal registration code", Purpose.ACCOUNT, ("code",),
          sms=gettext_noop("{provider}: your portal registration code is {code}. It expires in 15 minutes. Do not share it."),
          email_subject=gettext_noop("{provider}: your portal registration code"),
          email_body=gettext_noop("Your code to open your {provider} online account is {code}. It expires in 15 minutes.\n\n"
                     "If you did not ask for it, ignore this message: nothing changes.\n\n{provider}"),
          description="Sent when a client registers for the portal (never held, never opted out)."),
    Event("policy_changed", "New privacy policy or terms", Purpose.ACCOUNT, ("title", "version", "summary", "link"),
          email_subject=gettext_noop("{provider}: we have updated our {title}"),
          email_body=gettext_noop("Dear {name},\n\nMajiSmart, the billing service {provider} uses, has published a new "
                     "{title} (version {version}).\n\nWhat changed: {summary}\n\nRead it in full: {link}\n\n"
                     "You will be asked to accept it the next time you log in.\n\n{provider}"),
          description="Sent to every user when a new version of the privacy policy or terms is published."),
    Event("privacy_requests_due", "Privacy requests due (to owners)", Purpose.ACCOUNT, ("count", "overdue", "link"),
          email_subject=gettext_noop("{provider}: {count} privacy request(s) need an answer"),
          email_body=gettext_noop("{count} request(s) from clients under the Data Protection Act are open and due within two "
                     "days or overdue ({overdue} overdue). The law gives 7 days to answer.\n\n"
                     "Open the request queue: {link}\n\n{provider}"),
          description="Sent each morning to the provider's owners while privacy requests are due or overdue."),
    # Self-service (issue 21): answers to a client's own USSD step or incoming SMS.
    Event("self_service_reply", "Reply to a client's USSD or SMS", Purpose.BILLING, ("text",),
          sms="{text}", quiet_hours=False,
          description="The answer to a client's SMS keyword (BAL, BILL, READ, STOP, HELP) or the pay link a "
                      "client asked for on USSD; the text is written in the client's language each time."),
    # Arrears (issue 19): payment plans, disconnection and reconnection.
    Event("plan_active", "Payment plan agreed", Purpose.BILLING, ("amount", "count", "date", "instalment"),
          sms=gettext_noop("{provider}: your payment plan for {amount} is agreed: {count} instalments of {instalment}, "
              "the first by {date}. {pay_link}"),
          email_subject=gettext_noop("Your payment plan with {provider}"),
          email_body=gettext_noop("Dear {name},\n\nYour payment plan for {amount} on account {account} is agreed: {count} "
                     "monthly instalments of {instalment}, the first by {date}. Pay each on time to keep the plan."
                     "\n\nHow to pay: {how_to_pay}, or online: {pay_link}\n\n{provider}"),
          description="Sent when staff make a payment plan or approve one the client asked for."),
    Event("plan_declined", "Payment plan declined", Purpose.BILLING, ("reason",),
          sms=gettext_noop("{provider}: we could not agree the payment plan you asked for on account {account}: {reason}"),
          description="Sent when staff decline a plan the client asked for in the portal."),
    Event("plan_broken", "Payment plan broken", Purpose.BILLING, ("amount", "date", "amount_due"),
          sms=gettext_noop("{provider}: the instalment of {amount} due {date} is unpaid, so your payment plan has ended. "
              "Pay {amount_due} to avoid disconnection. {pay_link}"),
          description="Sent when an instalment is still unpaid after the provider's grace days."),
    Event("disconnection_scheduled", "Disconnection scheduled", Purpose.BILLING, ("amount_due", "date"),
          sms=gettext_noop("{provider}: account {account} owes {amount_due}. Unless paid, your water will be disconnected "
              "on {date}. {how_to_pay}. {pay_link}"),
          email_subject=gettext_noop("Disconnection on {date}: account {account}"),
          email_body=gettext_noop("Dear {name},\n\nAccount {account} owes {amount_due}, overdue. Unless it is paid or a "
                     "payment plan agreed, your water supply will be disconnected on {date}.\n\nHow to pay: "
                     "{how_to_pay}, or online: {pay_link}\n\nIf you have paid already, please ignore this notice."
                     "\n\n{provider}"),
          description="Sent when staff start a disconnection, with the date set by the provider's notice days."),
    Event("reconnection_ordered", "Reconnection ordered", Purpose.BILLING, (),
          sms=gettext_noop("{provider}: thank you for your payment. Account {account} will be reconnected soon."),
          description="Sent when a disconnected client has paid what reconnection requires."),
    Event("test", "Test message", Purpose.ACCOUNT, (),
          sms=gettext_noop("{provider}: this is a test message from MajiSmart. SMS works."),
          email_subject=gettext_noop("{provider}: test email"), email_body=gettext_noop("This is a test email from MajiSmart.\n\n{provider}"),
          description="Sent from the settings page to check the set-up."),
]}
