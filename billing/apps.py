from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import receivers  # noqa: F401 - connects the signal receivers
        from billing.documents import invoice_attachment, invoice_pdf_ready
        from notifications.services import ATTACHMENTS, Attachment

        ATTACHMENTS["invoice_pdf"] = Attachment(make=invoice_attachment, ready=invoice_pdf_ready)
        from billing.fees import deposit_close_guard
        from clients.services import CLOSE_GUARDS

        if deposit_close_guard not in CLOSE_GUARDS:
            CLOSE_GUARDS.append(deposit_close_guard)
