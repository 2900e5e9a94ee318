from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import receivers  # noqa: F401 - connects the signal receivers
        from billing.documents import invoice_attachment, invoice_pdf_ready
        from notifications.services import ATTACHMENTS, Attachment

        ATTACHMENTS["invoice_pdf"] = Attachment(make=invoice_attachment, ready=invoice_pdf_ready)
