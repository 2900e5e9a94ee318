from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from billing.documents import PAYMENT_INSTRUCTIONS
        from payments import receivers  # noqa: F401 - connects the signal receivers
        from payments.documents import how_to_pay

        if how_to_pay not in PAYMENT_INSTRUCTIONS:
            PAYMENT_INSTRUCTIONS.append(how_to_pay)
        from notifications.services import ATTACHMENTS, Attachment
        from payments.documents import receipt_attachment

        ATTACHMENTS["receipt_pdf"] = Attachment(make=receipt_attachment)
        from majismart.health import CHECKS
        from majismart.metrics import SCRAPE_COLLECTORS
        from payments.monitoring import callback_health, callback_metrics

        CHECKS["callbacks"] = callback_health
        if callback_metrics not in SCRAPE_COLLECTORS:
            SCRAPE_COLLECTORS.append(callback_metrics)
