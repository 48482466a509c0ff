import pytest


@pytest.fixture
def import_dir(settings, tmp_path):
    """Uploads and reports of the test go to its own folder (IMPORT_DIR)."""
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR
