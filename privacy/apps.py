from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """A customer's rights over their data: erasure and access requests (issue 16). The top layer: it reads
    and deletes what every other app stores about one customer."""

    name = "privacy"
