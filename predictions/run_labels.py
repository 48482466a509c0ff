"""How scoring runs are named on pages: one format and one time zone (settings.TIME_ZONE) for the page
header, the footer's "Scores from …", trend charts and a customer's score history.

A run's `as_of` is the end of the data day it scored; several runs can share that day (a re-score after an
import, a manual run), so a label then also says when each run was made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format

STAMP = "j M Y, H:i T"  # "5 Dec 2026, 07:12 UTC"


def run_stamp(at: datetime | None) -> str:
    """A moment as every page names it: "5 Dec 2026, 07:12 UTC" ("" for None)."""
    if at is None:
        return ""
    return date_format(timezone.localtime(at), STAMP)


def run_labels(runs: Sequence[tuple[datetime, datetime | None]], *, with_year: bool = False) -> list[str]:
    """Short axis labels for runs given as (as_of, made at): "5 Dec" (the data's day), or for every run whose
    data day another run shares "5 Dec (run 6 Dec 07:12)" — "(run 07:12)" when it was made that same day — so
    that no two points of a chart carry the same label and no time reads as the data's (a new user's review,
    session 15: runs made on 6 Dec were labelled "5 Dec 18:43")."""
    day_format = "j M Y" if with_year else "j M"
    days = [timezone.localtime(as_of).date() for as_of, _ in runs]
    shared = Counter(days)
    labels = []
    for (as_of, made_at), day in zip(runs, days, strict=True):
        label = date_format(timezone.localtime(as_of), day_format)
        if shared[day] > 1 and made_at is not None:
            made = timezone.localtime(made_at)
            label += f" (run {date_format(made, 'H:i' if made.date() == day else f'{day_format} H:i')})"
        labels.append(label)
    return labels
