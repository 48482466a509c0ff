"""Column presets: the same export rows, with the column names and order a campaign tool takes as they are.

Every row of an export is a record of named fields (`FIELDS`); a preset says which fields go to the file and
under which header. What each tool requires, as documented by the tool (to the best of our knowledge, checked
against their import guides; a tool may also accept other spellings, these are the ones it maps by itself):

- **Klaviyo** (Lists & segments → import a list from CSV; "Import profiles" help article): one identifier
  column is required: `Email`, `Phone Number` or `External ID` (adding profiles to a *list* needs `Email`
  or `Phone Number`; `External ID` alone updates the properties of profiles that already carry it).
  `First Name` and `Last Name` map to Klaviyo's own properties; every other column becomes a custom
  profile property under its header (numbers stay numbers).
- **Mailchimp** (Audience → Add contacts → Import contacts → CSV): `Email Address` is required; `First Name`
  and `Last Name` map to the FNAME / LNAME merge fields; other columns are mapped to existing merge fields or
  created as new text fields during the import. Mailchimp knows contacts by email only: it has no external-id
  column, so a pseudonymised file cannot be imported there and is refused (`ExportPresetError`).
- **Braze** (Audience → Import users → CSV; "User import" article): `external_id` is required (or
  `braze_id` / `user_alias_name`; we use `external_id`); `email`, `first_name`, `last_name` are default
  attributes when spelled exactly so; every other column becomes a custom attribute (case-sensitive; values
  that look like numbers are stored as numbers).
- **Generic**: snake_case headers for any other tool (UTF-8 without a byte-order mark, commas, point decimals,
  probabilities from 0 to 1: integrators read these bytes, they do not change).
- **Spreadsheet (Excel)**: for people who open the file in Excel or LibreOffice, in any language. The file is
  what Excel itself saves as "Unicode Text": UTF-16 little-endian with a byte-order mark, tab-separated (still
  named .csv, which Windows opens with Excel). Excel reads such a file by its mark, whatever the computer's
  list separator (a UTF-8 file without a mark is read in the computer's code page, "Pfötchen" turns into
  "PfÃ¶tchen", and a German Excel splits on semicolons, so commas leave each row in one column). Numbers are
  whole numbers, which every locale reads alike (a decimal point is a thousands separator in a German Excel):
  chances as the percent the pages show (1 to 99), revenue at risk in whole currency units as the pages show
  it; the lapsed mark reads `yes` / `no`. Headers as the pages name the columns.

Every preset ends with the lapsed mark (`lapsed` / `Lapsed`: `true` for a customer who already lapsed, a win-back
rather than a save), after the columns it had before: a custom property in Klaviyo and Braze (read as a boolean),
a new text field in Mailchimp; no tool requires or reserves the name.

A pseudonymised file never carries email or name. The pseudonym (see `exports.pseudonym`) goes in a column
called `pseudonym` / `Pseudonym` — never in a column a tool reads as an email (Klaviyo maps `email` to the
profile's email by itself). The customer is identified by the shop's own customer id in the tool's
external-id column (Klaviyo `External ID`, Braze `external_id`): that is the id shops sync to these tools,
so rows update the profiles already there instead of creating new ones.

Every preset starts with the shop's customer id: erasure rewrites kept export files by their first column
(`privacy.services`), whatever the preset.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ecomsight.csvsafe import neutralise
from ecomsight.errors import UserError

RECS = 3
REC_PARTS = ("product_id", "title", "url", "image_url")
PERSONAL_FIELDS = frozenset({"email", "name", "first_name", "last_name"})

# The fields an export row carries (exports._row_chunks), in the generic file's order.
FIELDS = ("customer_id", "email", "name", "first_name", "last_name", "pseudonym", "churn_probability",
          "purchase_probability", "risk_band", "revenue_at_risk", "reasons",
          *(f"rec_{i}_{part}" for i in range(1, RECS + 1) for part in REC_PARTS), "offer_id", "lapsed")


class ExportPresetError(UserError):
    code = "export_preset"


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a streamed response."""

    def write(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class FileFormat:
    """How a preset's file is written: the one place that knows its encoding, byte-order mark and delimiter.
    The export (streamed and kept: the same bytes), the download, the S3 delivery and erasure's rewrite of kept
    files all go through it."""

    encoding: str = "utf-8"  # a Python codec without a mark of its own ("utf-16-le", not "utf-16")
    bom: bool = False  # "\ufeff" first, encoded as the rest
    delimiter: str = ","
    content_type: str = "text/csv; charset=utf-8"

    def line_writer(self) -> Callable[[Iterable], str]:
        """A row as one line of text (csv's quoting, "\r\n" line ends)."""
        return csv.writer(_Echo(), delimiter=self.delimiter).writerow

    def encode(self, text: str, *, first: bool = False) -> bytes:
        """Lines as the file's bytes; `first`: the file's first lines, after the byte-order mark."""
        return (("\ufeff" if first and self.bom else "") + text).encode(self.encoding)

    def rows_read(self, path: str) -> list[list[str]]:
        """Every row of a file written in this format (the mark left out)."""
        with open(path, newline="", encoding=self.encoding) as handle:
            text = handle.read()
        if self.bom:
            text = text.removeprefix("\ufeff")
        return list(csv.reader(io.StringIO(text), delimiter=self.delimiter))

    def rows_replace(self, path: str, rows: Iterable[Iterable]) -> None:
        """Write `rows` over the file at `path` in this format, atomically (a temporary file renamed over it)."""
        line = self.line_writer()
        data = self.encode("".join(line(row) for row in rows), first=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".csv.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


CSV = FileFormat()
# Excel's own "Unicode Text": read by its byte-order mark, tabs between fields, in every locale.
EXCEL_TEXT = FileFormat(encoding="utf-16-le", bom=True, delimiter="\t", content_type="text/csv; charset=utf-16")


def _whole_percent(value):
    """A 0-to-1 chance as the percent the pages show: whole, ">99 %" as 99, "<1 %" as 1."""
    if value == "" or value is None:
        return ""
    return min(99, max(1, int(Decimal(str(value * 100)).quantize(Decimal(1), ROUND_HALF_UP))))


def _whole_amount(value):
    """An amount in whole currency units, rounded as the pages round it (half up)."""
    if value == "" or value is None:
        return ""
    return int(Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_UP))


_SPREADSHEET_VALUES = {"churn_probability": _whole_percent, "purchase_probability": _whole_percent,
                       "revenue_at_risk": _whole_amount}


@dataclass(frozen=True)
class Preset:
    """A campaign tool's file: its name, and per field (in file order) the header the tool expects."""

    key: str
    label: str
    columns: tuple[tuple[str, str], ...]  # (field, header)
    pseudonym_allowed: bool = True
    # What a pseudonymised file of the preset does in its tool, where that is less than the label says.
    pseudonymised_label: str = ""
    file: FileFormat = CSV
    # Per field, how a record's value is given (a percent for a 0-to-1 chance); the rest as recorded.
    values: dict = field(default_factory=dict)
    yes_no: tuple[str, str] = ("true", "false")  # a yes/no field (what Klaviyo and Braze read as a boolean)

    def value(self, name: str, value):
        """A record's value as this preset gives it (a file cell before quoting, a webhook's JSON value)."""
        convert = self.values.get(name)
        return convert(value) if convert is not None else value

    def cell(self, name: str, value):
        """A record's value as a cell of this preset's file: a yes/no field in the preset's words, text a
        spreadsheet would evaluate neutralised."""
        value = self.value(name, value)
        if isinstance(value, bool):
            return self.yes_no[0] if value else self.yes_no[1]
        return neutralise(value)

    def fields(self, *, pseudonymised: bool) -> list[str]:
        """The fields written, in order: personal ones out of a pseudonymised file, the pseudonym out of the
        other."""
        drop = PERSONAL_FIELDS if pseudonymised else {"pseudonym"}
        return [f for f, _ in self.columns if f not in drop]

    def header(self, *, pseudonymised: bool) -> list[str]:
        names = dict(self.columns)
        return [names[f] for f in self.fields(pseudonymised=pseudonymised)]


def _recs(style) -> tuple[tuple[str, str], ...]:
    return tuple((f"rec_{i}_{part}", style(i, part)) for i in range(1, RECS + 1) for part in REC_PARTS)


_TITLE_WORDS = {"product_id": "Product ID", "title": "Title", "url": "URL", "image_url": "Image URL"}


def _titled(i: int, part: str) -> str:
    return f"Rec {i} {_TITLE_WORDS[part]}"


def _generic_rec(i: int, part: str) -> str:
    return f"rec_{i}" if part == "title" else f"rec_{i}_{part}"  # rec_1 kept: the title, as before presets


_SCORES_TITLED = (("churn_probability", "Churn Probability"), ("purchase_probability", "Purchase Probability"),
                  ("risk_band", "Risk Band"), ("revenue_at_risk", "Revenue At Risk"), ("reasons", "Churn Reasons"))
_SCORES_SNAKE = tuple((f, f) for f in ("churn_probability", "purchase_probability", "risk_band", "revenue_at_risk",
                                       "reasons"))

PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("generic", "Generic CSV (any tool)", (
        ("customer_id", "customer_id"), ("email", "email"), ("name", "name"), ("pseudonym", "pseudonym"),
        *_SCORES_SNAKE, *_recs(_generic_rec), ("offer_id", "offer_id"), ("lapsed", "lapsed"))),
    Preset("spreadsheet", "Spreadsheet (Excel)", (
        ("customer_id", "Customer ID"), ("email", "Email"), ("name", "Name"), ("pseudonym", "Pseudonym"),
        ("churn_probability", "Chance of leaving (%)"), ("purchase_probability", "Chance of buying (%)"),
        ("risk_band", "Risk band"), ("revenue_at_risk", "Revenue at risk"), ("reasons", "Reasons"),
        *_recs(_titled), ("offer_id", "Offer ID"), ("lapsed", "Lapsed")),
        file=EXCEL_TEXT, values=_SPREADSHEET_VALUES, yes_no=("yes", "no")),
    Preset("klaviyo", "Klaviyo list CSV", (
        ("customer_id", "External ID"), ("email", "Email"), ("first_name", "First Name"),
        ("last_name", "Last Name"), ("pseudonym", "Pseudonym"), *_SCORES_TITLED, *_recs(_titled),
        ("offer_id", "Offer ID"), ("lapsed", "Lapsed")),
        # Without Email or Phone Number Klaviyo adds nobody to a list: External ID alone updates the profiles that
        # already carry it (a browser review: a marketer's "Klaviyo list CSV" could not be uploaded as a list).
        pseudonymised_label="Klaviyo profile update CSV (by External ID: updates profiles already in Klaviyo; "
                            "a list import needs emails)"),
    Preset("mailchimp", "Mailchimp audience import", (
        ("customer_id", "Customer ID"), ("email", "Email Address"), ("first_name", "First Name"),
        ("last_name", "Last Name"), *_SCORES_TITLED, *_recs(_titled), ("offer_id", "Offer ID"), ("lapsed", "Lapsed")),
        pseudonym_allowed=False),
    Preset("braze", "Braze user CSV", (
        ("customer_id", "external_id"), ("email", "email"), ("first_name", "first_name"),
        ("last_name", "last_name"), ("pseudonym", "pseudonym"), *_SCORES_SNAKE,
        *_recs(_generic_rec), ("offer_id", "offer_id"), ("lapsed", "lapsed"))),
)}
DEFAULT_PRESET = "generic"
PRESET_CHOICES = [(p.key, p.label) for p in PRESETS.values()]


def file_format(key: str | None) -> FileFormat:
    """The file format of preset `key`, for a reader of a kept file (a preset since removed: CSV)."""
    preset = PRESETS.get(key or DEFAULT_PRESET)
    return preset.file if preset is not None else CSV


def preset_choices(*, personal_data: bool) -> list[tuple[str, str]]:
    """The presets a user may choose, as (key, label): one that needs email addresses (Mailchimp) only for a
    user who may see them. Forms offer these; `preset_get` still refuses the others."""
    return [(p.key, p.label if personal_data else p.pseudonymised_label or p.label) for p in PRESETS.values()
            if personal_data or p.pseudonym_allowed]


def preset_get(key: str | None, *, pseudonymised: bool = False) -> Preset:
    """The preset called `key` (default: generic); a clear error for an unknown one, or for Mailchimp with a
    pseudonymised file (Mailchimp imports contacts by email address only)."""
    preset = PRESETS.get(key or DEFAULT_PRESET)
    if preset is None:
        raise ExportPresetError(f"Unknown column preset “{key}”: choose one of {', '.join(PRESETS)}.", field="preset")
    if pseudonymised and not preset.pseudonym_allowed:
        raise ExportPresetError(
            f"{preset.label} needs email addresses (it has no column for another id), so a pseudonymised file "
            "cannot be imported there. Choose Klaviyo, Braze, the generic or the spreadsheet preset, or export with "
            "emails (which only a role that may see customers' emails, such as admin, can).",
            field="preset")
    return preset


def name_split(name: str) -> tuple[str, str]:
    """A full name as first and last name: the first word, then the rest ("Ann Lee Smith" → "Ann", "Lee Smith")."""
    first, _, last = " ".join((name or "").split()).partition(" ")
    return first, last
