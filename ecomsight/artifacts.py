"""Model artifacts on disk: one folder per trained model under MODEL_DIR/<shop>/<task>/<run>/<algorithm>, written
into a temporary folder and renamed into place only when complete, so that the row pointing at it (predictions'
`ModelVersion`, reviews' `ReviewAnalysis`) is created after a whole artifact exists, whatever kills the process
(SIGTERM, SIGKILL, a full disk)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings


def artifact_folder(*, shop_slug: str, task: str, run_key: str, algorithm: str) -> Path:
    """Where a model's artifact lives: MODEL_DIR/<shop>/<task>/<run>/<algorithm>."""
    return Path(settings.MODEL_DIR) / shop_slug / task / run_key / algorithm


def artifact_write(final: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(folder)` on a temporary folder beside `final`, then rename it to `final` (atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}-{uuid.uuid4().hex}.partial"
    try:
        temporary.mkdir()
        write(temporary)
        temporary.rename(final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return final
