from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from majismart.metrics import SCRAPE_COLLECTORS
        from notifications.monitoring import failed_messages_metrics

        if failed_messages_metrics not in SCRAPE_COLLECTORS:
            SCRAPE_COLLECTORS.append(failed_messages_metrics)
