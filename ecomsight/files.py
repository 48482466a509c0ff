"""Files the product writes under its own directories (uploads, rejected-rows reports, exports), and their
removal once they are old: without it every upload (up to 200 MB) stays on disk for good."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Removed:
    """What a removal did (or, on a dry run, would do)."""

    files: int = 0
    bytes: int = 0


def old_files_remove(root: str | os.PathLike, *, before: float, keep: Iterable[str] = (),
                     dry_run: bool = False) -> Removed:
    """Remove the regular files under `root` last modified before `before` (a Unix time), except `keep`.

    Only files inside `root` are touched: symbolic links are neither followed nor removed, so a link can
    never make this delete something elsewhere. A file that goes away meanwhile is skipped."""
    removed = Removed()
    top = Path(root)
    if not top.is_dir():
        return removed
    kept = {os.path.realpath(path) for path in keep if path}
    for folder, _dirs, names in os.walk(top):  # os.walk does not follow links to folders
        for name in names:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_mtime >= before or os.path.realpath(path) in kept:
                continue
            if not dry_run:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
            removed.files += 1
            removed.bytes += info.st_size
    return removed
