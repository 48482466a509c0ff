from tests.api.conftest import clients, other_client, tokens, users  # noqa: F401
