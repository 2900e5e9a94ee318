from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients"

    def ready(self) -> None:
        from accounts.selectors import AUDIT_TARGETS, AuditTarget

        def by_account_number(text: str) -> int | None:
            from clients.models import Client

            return Client.objects.filter(account_number__iexact=text.strip()).values_list("pk", flat=True).first()

        # The audit log viewer finds a client's events by its account number.
        AUDIT_TARGETS["client"] = AuditTarget(label="client", resolve=by_account_number, url_name="client_detail")

        from notifications.services import CLIENT_LANGUAGES

        def languages(ids: list[int]) -> dict[int, str]:
            from clients.models import Client

            return dict(Client.objects.filter(pk__in=ids).values_list("pk", "language"))

        # Every message about a client is written in the client's language ("": the provider's default).
        CLIENT_LANGUAGES.append(languages)
