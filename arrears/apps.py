from django.apps import AppConfig


class ArrearsConfig(AppConfig):
    name = "arrears"
    verbose_name = "Arrears: payment plans, disconnection and reconnection"

    def ready(self) -> None:
        from arrears import receivers  # noqa: F401 - connects the signal receivers
