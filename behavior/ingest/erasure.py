"""Erasure in the files an import keeps: uploads and rejected-rows reports that name an erased customer.

Uploads (the web's files, IMPORT_DIR/<shop>/…) and rejected-rows reports (IMPORT_DIR/import-N-rejected.csv)
stay until FILE_RETENTION_DAYS. When customers are erased (privacy.services.customer_erase) every kept file of
the shop is rewritten without them, atomically (a temporary file renamed over it):

- an upload loses the rows whose customer column (the import's own column mapping: `customer_id`, or the
  column mapped to it) holds an erased id, and for customer files also the rows whose `email` is theirs. A
  pending upload (not mapped yet) is matched by its header as the import would read it, else by the columns
  named like `customer…` / `…mail…`. Other columns are not searched: with numeric ids, "1" is also a quantity.
- a report loses the rows of the lines dropped from its upload, and the rows whose value is an erased id or
  email or whose reason names the id ("unknown customer C1").

Files outside IMPORT_DIR (`import_data FILE` on the command line) belong to whoever ran it and are not
touched. Line numbers in a rewritten report still count the original file's lines.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

from behavior.models import ImportJob, PendingUpload

from .formats import ImportFileError, plan_build, source_open


def import_files_scrub(*, shop_id: int, customers: dict[str, str]) -> dict[str, int]:
    """Rewrite the shop's kept uploads and reports without the customers `customers` (external id -> email,
    "" when unknown). Returns, per external id, how many files were rewritten because they named it."""
    ids = {i.strip() for i in customers if i.strip()}
    emails = {e.strip().lower(): i for i, e in customers.items() if e and e.strip()}
    if not ids:
        return {}
    touched: dict[str, int] = {}

    def count(named: set[str]) -> None:
        for external_id in named:
            touched[external_id] = touched.get(external_id, 0) + 1

    for job in ImportJob.objects.filter(shop_id=shop_id).only("kind", "file_path", "report_path", "column_map"):
        dropped: dict[int, str] = {}
        if _kept(job.file_path):
            named, dropped = _upload_scrub(job.file_path, job.kind, job.column_map or {}, ids, emails, mapped=True)
            count(named)
        if _kept(job.report_path):
            count(_report_scrub(job.report_path, ids, emails, dropped))
    for pending in PendingUpload.objects.filter(shop_id=shop_id).only("kind", "path"):
        if _kept(pending.path):
            count(_upload_scrub(pending.path, pending.kind, {}, ids, emails, mapped=False)[0])
    return touched


def _kept(path: str) -> bool:
    """A file the app keeps (under IMPORT_DIR) that is still there."""
    if not path or not os.path.isfile(path):
        return False
    return Path(path).resolve().is_relative_to(Path(settings.IMPORT_DIR).resolve())


def _columns(kind: str, header: tuple[str, ...], column_map: dict, *, mapped: bool) -> tuple[list[int], list[int]]:
    """The file's columns holding customer ids, and those holding emails."""
    try:
        plan = plan_build(kind=kind, header=header, column_map=column_map)
        at = dict(zip(plan.spec.names, plan.indexes, strict=True))
        ids = [at["customer_id"]] if at.get("customer_id") is not None else []
        mails = [at["email"]] if at.get("email") is not None else []
        if ids or mails or mapped:
            return ids, mails
    except ImportFileError:
        pass
    # Not mapped yet: whatever looks like the customer's id or email.
    return ([i for i, h in enumerate(header) if h.startswith("customer") or h in ("client_id", "user_id")],
            [i for i, h in enumerate(header) if "mail" in h])


def _upload_scrub(path: str, kind: str, column_map: dict, ids: set[str], emails: dict[str, str], *,
                  mapped: bool) -> tuple[set[str], dict[int, str]]:
    """Rewrite an upload without the rows naming the customers. Returns (ids found, file line -> id dropped)."""
    try:
        source = source_open(path)
    except ImportFileError:
        return set(), {}
    with source:
        id_columns, mail_columns = _columns(kind, source.header, column_map, mapped=mapped)
        if not id_columns and not mail_columns:
            return set(), {}
        kept, named, dropped = [list(source.header_written)], set(), {}
        for row in source.reader:
            line = source.line
            hit = {row[i].strip() for i in id_columns if i < len(row)} & ids
            hit |= {emails[row[i].strip().lower()] for i in mail_columns
                    if i < len(row) and row[i].strip().lower() in emails}
            if hit:
                named |= hit
                dropped[line] = min(hit)
            else:
                kept.append(row)
        delimiter = source.delimiter
    if named:
        _replace(path, kept, delimiter=delimiter)
    return named, dropped


def _report_scrub(path: str, ids: set[str], emails: dict[str, str], lines: dict[int, str]) -> set[str]:
    """Rewrite a rejected-rows report (line, column, value, reason) without the rows naming the customers or
    reporting a line dropped from its upload. Returns the ids it named."""
    words = re.compile(r"(?<![\w.@-])(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
                       + r")(?![\w@-])")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return set()
    kept, named = [rows[0]], set()
    for row in rows[1:]:
        line, _, value, reason = (row + [""] * 4)[:4]
        plain = value.strip().removeprefix("'")  # csvsafe.neutralise quotes formula-like values
        hit = ({plain} & ids) | ({emails[plain.lower()]} if plain.lower() in emails else set())
        hit |= set(words.findall(reason))
        if line.isdigit() and int(line) in lines:
            hit.add(lines[int(line)])
        if hit:
            named |= hit
        else:
            kept.append(row)
    if named:
        _replace(path, kept, delimiter=",")
    return named


def _replace(path: str, rows: list[list[str]], *, delimiter: str) -> None:
    """Write `rows` over `path` atomically (a temporary file in the same folder, renamed over it)."""
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".csv.tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            csv.writer(out, delimiter=delimiter).writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
