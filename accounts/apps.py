from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Token-cache invalidation listens for membership / token changes in every process
        # (web, workers, commands), not only in those that served an API call.
        from . import tokens  # noqa: F401
