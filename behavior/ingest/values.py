"""The per-value converters of the import formats, and the derived keys.

A converter takes a stripped, non-empty value and its `Column` and returns the value as canonical text
(dates as ISO 8601 in UTC, decimals with two places, booleans as "true"/"false", JSON as the text it
was), or raises `RowError` with the reason the report shows. `event_idempotency_key` and
`order_derived_id` give rows without an id a stable one from their content.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .formats import Column

# An order's status as shops' exports write it (Shopify, WooCommerce, Magento, ERPs), mapped to ours: an order that
# stands is "placed" however far it got (paid, shipped, completed); one that never became a sale is "cancelled";
# one whose money went back is "refunded". Matched case-insensitively, with "-" and spaces read as "_". Words
# that mean different things in different shops are left out, so their rows are rejected and the shop says
# (e.g. "closed": refunded in Magento, completed in Shopify).
# WooCommerce's slugs carry a "wc-" prefix (wc-completed), which is dropped first. An order whose return is only
# requested, or that was exchanged, still stands; a chargeback took the money back.
ORDER_STATUSES = {
    **dict.fromkeys(("placed", "pending", "pending_payment", "processing", "authorized", "paid", "partially_paid",
                     "partially_refunded", "on_hold", "holded", "shipped", "partially_shipped", "delivered",
                     "fulfilled", "unfulfilled", "partially_fulfilled", "awaiting_payment", "awaiting_shipment",
                     "awaiting_fulfillment", "awaiting_pickup", "ready_for_pickup", "in_transit", "backordered",
                     "return_requested", "exchanged", "completed", "complete", "open",
                     # Olist's and PrestaShop's words for an order on its way
                     "created", "approved", "invoiced", "payment_accepted", "remote_payment_accepted",
                     "processing_in_progress", "payment_review",
                     # PrestaShop's waits for a payment and its backorders ("On backorder (paid)": parentheses are
                     # dropped); its partial refund stands as a partially refunded order does
                     "awaiting_bank_wire_payment", "awaiting_cash_on_delivery_validation", "awaiting_check_payment",
                     "awaiting_check", "on_backorder_paid", "on_backorder_not_paid", "partial_refund",
                     # BigCommerce's order held for a check, and Magento's held as suspected fraud: both wait for
                     # the shop, like payment_review and on_hold; a shop that cancels them exports "canceled" next
                     "manual_verification_required", "suspected_fraud", "fraud",
                     # German, French and Spanish shops' words (completed, paid, shipped, delivered, processing,
                     # open / pending)
                     "abgeschlossen", "bezahlt", "versendet", "versandt", "geliefert", "zugestellt",
                     "in_bearbeitung", "offen", "ausstehend", "teilweise_erstattet",
                     "terminée", "terminee", "payée", "payee", "expédiée", "expediee", "livrée", "livree",
                     "en_cours", "en_attente", "completado", "pagado", "enviado", "entregado", "pendiente",
                     "procesando", "en_proceso"), "placed"),
    **dict.fromkeys(("cancelled", "canceled", "voided", "void", "failed", "declined", "abandoned", "draft",
                     "trash", "expired",
                     # Olist's order that could not be fulfilled; PrestaShop's failed payment; BigCommerce's
                     # checkout left before paying
                     "unavailable", "payment_error", "incomplete",
                     "storniert", "abgebrochen", "annulée", "annulee", "annulé", "annule", "cancelado",
                     "cancelada"), "cancelled"),
    # BigCommerce's "Disputed" is a chargeback under way: the bank has taken the money back from the shop until
    # the dispute is decided (a shop that wins it exports the order's earlier status again, and a re-import stores
    # it).
    **dict.fromkeys(("refunded", "returned", "chargeback", "charged_back", "disputed",
                     "erstattet", "rückerstattet", "zurückerstattet", "remboursée", "remboursee", "remboursé",
                     "rembourse", "reembolsado", "reembolsada"), "refunded"),
}
# Event types as trackers name them (Segment's "Product Viewed", GA4's "view_item", ...), stored as the names the
# models read (behavior.models.Event.Type). Matched case-insensitively, "-" and spaces read as "_"; other types are
# stored as written (and counted as `unknown_types`: no model reads them).
EVENT_TYPES = {
    **dict.fromkeys(("view", "views", "viewed", "product_view", "product_viewed", "viewed_product", "view_item",
                     "item_view", "product_detail_view", "detail", "pdp_view", "product_page_view"), "view"),
    **dict.fromkeys(("add_to_cart", "added_to_cart", "product_added", "product_added_to_cart", "addtocart",
                     "cart_add", "add_cart"), "add_to_cart"),
    **dict.fromkeys(("remove_from_cart", "removed_from_cart", "product_removed", "product_removed_from_cart",
                     "removefromcart", "cart_remove"), "remove_from_cart"),
    **dict.fromkeys(("wishlist", "add_to_wishlist", "added_to_wishlist", "product_added_to_wishlist",
                     "wishlist_add"), "wishlist"),
    **dict.fromkeys(("search", "searched", "products_searched", "view_search_results", "site_search"), "search"),
    **dict.fromkeys(("login", "logged_in", "signed_in", "sign_in"), "login"),
    **dict.fromkeys(("review", "product_reviewed", "reviewed"), "review"),
}


def _word(value: str) -> str:
    """A word of a shop's export as the tables here spell it: lower case, "-" and spaces read as "_"."""
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def event_type_canonical(value: str) -> str:
    """The models' name for a tracker's event type; the type as written when it is none of theirs."""
    return EVENT_TYPES.get(_word(value), value)


# Yes / no as columns write it, consent exports (Mailchimp, Shopify, Klaviyo) included; "-" and spaces read as "_".
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on", "subscribed", "opted_in", "opt_in", "granted", "accepted",
              "ja", "oui", "si", "sí"}
# Mailchimp's other statuses (cleaned: the address bounced; pending: never confirmed; transactional, archived)
# are not consent to marketing.
FALSE_WORDS = {"0", "false", "f", "no", "n", "off", "unsubscribed", "not_subscribed", "non_subscribed",
               "opted_out", "opt_out", "denied", "declined", "nein", "non", "cleaned", "pending", "transactional",
               "archived"}
CENT = Decimal("0.01")
# The oldest date an import accepts: anything earlier is a placeholder or a typo (0001-01-01), not a sale.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
# Digits before the point a decimal column can hold at most (numeric(14, 2) and the like are smaller still).
MAX_DECIMAL_DIGITS = 16


class RowError(Exception):
    """Raised by a converter: the value cannot be stored. Its message is the reason in the report."""


# --- converters: canonical text or RowError -------------------------------------------------------


def _text(value: str, column: Column) -> str:
    if column.max_length and len(value) > column.max_length:
        raise RowError(f"longer than {column.max_length} characters")
    return value


# Unix times as trackers export them (GA4's event_timestamp in microseconds, Segment's and most APIs' in
# milliseconds or seconds): told apart by their number of digits, which for dates after 2001 is 10, 13, 16 or 19.
_EPOCH = re.compile(r"(?P<s>[0-9]{9,10})(?:\.[0-9]{1,9})?|(?P<ms>[0-9]{12,13})|(?P<us>[0-9]{15,16})"
                    r"|(?P<ns>[0-9]{18,19})")
_EPOCH_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def _epoch(value: str) -> datetime | None:
    match = _EPOCH.fullmatch(value)
    if match is None:
        return None
    unit = match.lastgroup
    if unit == "s":
        seconds, _, fraction = value.partition(".")
        micros = int((fraction + "000000")[:6]) if fraction else 0
        return datetime.fromtimestamp(int(seconds), tz=UTC).replace(microsecond=micros)
    seconds, rest = divmod(int(value), 10 ** _EPOCH_DIGITS[unit])
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest * 10**6 // 10 ** _EPOCH_DIGITS[unit])


# Dates as spreadsheets and older platforms write them: 25/12/2024, 12/25/2024 8:26 PM, 25.12.2024 14:05:00,
# 2024/12/25, each with an optional time and a trailing UTC/GMT/Z. Whether 03/04/2024 is day or month first is the
# file's: `slash_date_order` finds it from the file's rows (a 25 in first place says day first), the converter is
# told (`day_first`), and without it a date that could be either is refused.
_WRITTEN_DATE = re.compile(
    r"(?:(?P<y1>[0-9]{4})/(?P<m1>[0-9]{1,2})/(?P<d1>[0-9]{1,2})"
    r"|(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4}|[0-9]{2}))"
    r"(?:[ T]+(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?)?"
    r"\s*(?P<p>[AaPp]\.?[Mm]\.?)?)?"
    r"(?:\s*(?:UTC|GMT|Z))?")
_ISO_WITH_ZONE_WORD = re.compile(r"(?P<iso>[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+)\s*(?:UTC|GMT)")


# Dates with the month's name, as Magento 2 ("Oct 26, 2025 3:46:15 AM"), US reports ("October 26, 2025"), British
# ones and Excel's d-mmm-yyyy ("26 Oct 2025", "26-Oct-2025", "Sun, 26 Oct 2025 14:05:00 GMT") write them, and German,
# French, Spanish and Italian shops and spreadsheets ("26. Okt. 2025", "26. Oktober 2025 um 14:05 Uhr", "1er octobre
# 2025", "26 de octubre de 2025", "26 ottobre 2025"), each with an optional time (AM/PM or 24 hours). Before this, a
# Magento file was rejected whole as "unparseable", and a German one too. A month is named in full or by its
# abbreviation, with or without its dot, in any case, accents or none (févr., fevr); a word that names no month in
# these languages (Portuguese "out" for outubro) is no date: rejected, never guessed.
_MONTH_NAMES = (
    # English
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
     "december"),
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    # German (Austria's Jänner and Feber too), French, Spanish (setiembre too), Italian
    ("januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober", "november",
     "dezember"),
    ("jän", "febr", "mrz", "apr", "mai", "jun", "jul", "aug", "sept", "okt", "nov", "dez"),
    ("jänner", "feber", "maerz", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"),
    ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre",
     "décembre"),
    ("janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"),
    ("janv", "fév", "mär", "avr", "mai", "juin", "juill", "aoû", "sep", "oct", "nov", "déc"),
    ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre",
     "diciembre"),
    ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "setiembre", "oct", "nov", "dic"),
    ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
     "novembre", "dicembre"),
    ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"),
    ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "sett", "ott", "nov", "dic"),
)


def _unaccented(word: str) -> str:
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode() if not word.isascii() else word


def _months(tables: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    """Each written month of `tables` (each the months in order; lower case, with and without its accents) → its
    number; a word two months share would be ambiguous and fails here, at import, not on a customer's row."""
    months: dict[str, int] = {}
    for names in tables:
        for number, name in enumerate(names, start=1):
            for word in {name, _unaccented(name)}:
                if months.setdefault(word, number) != number:
                    raise ValueError(f"the month name {word!r} names months {months[word]} and {number}")
    return months


_MONTHS = _months(_MONTH_NAMES)
_LETTERS = r"[^\W\d_]"
_MONTH_DATE = re.compile(
    rf"(?:{_LETTERS}{{2,10}}\.?,?\s+)??"  # a weekday
    rf"(?:(?P<mon1>{_LETTERS}{{3,10}})\.?\s+(?P<d1>[0-9]{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>[0-9]{{4}})"
    rf"|(?P<d2>[0-9]{{1,2}})(?:st|nd|rd|th|er|º|°)?(?:\.\s*|\s+|-|/)(?:de\s+)?(?P<mon2>{_LETTERS}{{3,10}})"
    r"(?:\.\s*|,?\s+|-|/)(?:del?\s+)?(?P<y2>[0-9]{4}))"
    r"(?:,?\s+(?:(?:at|um|à|a\s+las|alle|ore)\s+)?(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?"
    r"\s*(?P<p>[AaPp]\.?\s?[Mm]\.?)?(?:\s*Uhr)?)?"
    r"(?:\s*(?:UTC|GMT|Z))?", re.IGNORECASE)


def _month_name_date(value: str) -> datetime | None:
    """The moment of a date written with its month's name (naive: UTC), None when not one."""
    match = _MONTH_DATE.fullmatch(value)
    if match is None:
        return None
    month = _MONTHS.get(_unaccented((match["mon1"] or match["mon2"]).lower()))
    if month is None:
        return None
    year, day = int(match["y1"] or match["y2"]), int(match["d1"] or match["d2"])
    hour, minute = int(match["H"] or 0), int(match["M"] or 0)
    if match["p"]:
        if not 1 <= hour <= 12:
            raise ValueError(value)
        hour = hour % 12 + (12 if match["p"][0] in "Pp" else 0)
    _day_exists(year, month, day)
    return datetime(year, month, day, hour, minute, int(match["S"] or 0))


def written_date_parts(value: str) -> tuple[int, int, str] | None:
    """(first, second, separator) of a date written day and month first in some order (03/04/2024), else None."""
    match = _written_match(value)
    if match is None or match["a"] is None:
        return None
    return int(match["a"]), int(match["b"]), match["sep"]


def _written_match(value: str) -> re.Match | None:
    match = _WRITTEN_DATE.fullmatch(value)
    if match is not None and match["sep"] == "-" and len(match["y"]) == 2:
        return None  # 01-03-24 could as well be 2001-03-24
    return match


def _written_date(value: str, day_first: bool | None) -> datetime | None:
    """The moment of a date in one of _WRITTEN_DATE's shapes (naive: UTC), None when not one of them."""
    zone_word = _ISO_WITH_ZONE_WORD.fullmatch(value)
    if zone_word is not None:  # BigQuery's CSV: "2024-03-01 14:05:00 UTC"
        return datetime.fromisoformat(zone_word["iso"])
    match = _written_match(value)
    if match is None:
        return _month_name_date(value) if len(value) <= 64 else None
    if match["y1"] is not None:
        year, month, day = int(match["y1"]), int(match["m1"]), int(match["d1"])
    else:
        a, b = int(match["a"]), int(match["b"])
        if day_first is None:
            if a > 12 >= b or match["sep"] == "." and a != b:  # 25/12/2024; dotted dates are day first
                day_first = True
            elif b > 12 >= a:
                day_first = False
            elif a == b:
                day_first = True
            elif a > 12 and b > 12:
                raise ValueError(value)  # neither can be a month: not a date
            else:
                raise RowError("a date that can be day/month or month/day, and no row of the file tells which (a "
                               "number above 12): write dates as ISO 8601 (2024-03-01)")
        day, month = (a, b) if day_first else (b, a)
        year = int(match["y"])
        if len(match["y"]) == 2:  # two digits: this century unless that is in the future
            year += 2000 if 2000 + year <= datetime.now(UTC).year else 1900
    hour, minute = int(match["H"] or 0), int(match["M"] or 0)
    if match["p"]:
        if not 1 <= hour <= 12:
            raise ValueError(value)
        hour = hour % 12 + (12 if match["p"][0] in "Pp" else 0)
    micros = int((match["f"] + "000000")[:6]) if match["f"] else 0
    _day_exists(year, month, day)
    return datetime(year, month, day, hour, minute, int(match["S"] or 0), micros)


_ISO_DAY = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})(?:[T ].*)?")


def _day_exists(year: int, month: int, day: int) -> None:
    """RowError naming the day when a date's numbers make none (31/02/2024 was "unparseable date (expected …
    day/month/year …)", which it was written in: a browser review)."""
    if not 1 <= month <= 12:
        raise RowError(f"no month {month} (a date's month is 1 to 12)")
    if 1 <= year <= 9999 and not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise RowError(f"no such day: {day} {calendar.month_name[month]} {year}")


def _iso_or_written(value: str, day_first: bool | None) -> datetime:
    """ISO 8601 first (nearly every file), then the shapes of _WRITTEN_DATE; ValueError when neither."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        moment = _written_date(value, day_first)
        if moment is None:
            raise
        return moment


# Excel's and Google Sheets' serial day numbers of the years 1982-2119 (30000-80000), with a fraction for the time.
_SPREADSHEET_DAY = re.compile(r"[3-7][0-9]{4}(?:\.[0-9]+)?")
# Day numbers (1, 2, … 29999: below the spreadsheets' serials), as datasets count their days from the first one
# (Dunnhumby's DAY 1..711): no date without the day it counts from.
_DAY_NUMBER = re.compile(r"[1-9][0-9]{0,3}|[12][0-9]{4}")
# A date ending in a time zone's name or abbreviation ("… CET", "… PST", "GMT+0100"): named in the error.
_ZONE_NAME = re.compile(r"\d\s*((?:UTC|GMT)[+-]\d{1,4}|[A-Z]{3,4}|[A-Z][a-z]+/[A-Za-z_]+)$")


def _local_midnight(moment: datetime) -> bool:
    """Midnight written with an offset other than UTC's: a date, as `datetime_canonical` reads it."""
    offset = moment.utcoffset()
    return bool(offset) and moment.hour == moment.minute == moment.second == moment.microsecond == 0


def datetime_canonical(value: str, column: Column, *, latest: datetime, day_first: bool | None = None) -> str:
    """`day_first`: how the file writes dates like 03/04/2024 (`slash_date_order`); None when it does not say."""
    try:
        moment = _epoch(value) or _iso_or_written(value, day_first)
    except (ValueError, OverflowError, OSError):
        iso = _ISO_DAY.fullmatch(value)
        if iso is not None:
            _day_exists(int(iso["y"]), int(iso["m"]), int(iso["d"]))
        order = {True: "day/month/year, ", False: "month/day/year, "}.get(day_first, "")
        zone = _ZONE_NAME.search(value.strip())
        hint = (f"; time zone names like {zone.group(1)} are not read (one name means different offsets in summer "
                "and winter, some mean two zones): write the offset, e.g. 2024-03-01T14:05:00+01:00") if zone else ""
        if _SPREADSHEET_DAY.fullmatch(value):
            hint = ("; this looks like a spreadsheet's day number (days since 1899-12-30: 45384 is 2024-04-02): "
                    "format the column as a date in the spreadsheet before saving the CSV")
        elif _DAY_NUMBER.fullmatch(value) and 1900 <= int(value) <= 2100:
            hint = "; a year alone says no day: write the date, e.g. 2024-03-01"
        elif _DAY_NUMBER.fullmatch(value):
            hint = ("; this looks like a day number (1, 2, … counted from the data's first day, as Dunnhumby's DAY), "
                    "which says no date: convert it to dates first, e.g. with pandas df[\"placed_at\"] = "
                    "pd.Timestamp(\"2020-01-01\") + pd.to_timedelta(df[\"DAY\"] - 1, unit=\"D\") (any first day you "
                    "choose: the models read the days between orders)")
        # What is read, briefly: the month's name too (_MONTH_DATE), which the hint left out (a user's review).
        raise RowError(f"unparseable date (expected ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:05:00, {order}the "
                       "month's name in English, German, French, Spanish or Italian, e.g. 26 Oct 2025 or 26. Oktober "
                       f"2025, or Unix time in seconds, milliseconds or microseconds){hint}") from None
    if _local_midnight(moment):
        # A date exported as its local midnight with the offset (2024-03-01T00:00:00+01:00) is that day: as a
        # moment it would fall on the day before (23:00 UTC) and every daily count with it. Any other time of
        # day is the moment it says (an order placed at exactly local midnight moves by its offset, to its day).
        moment = moment.replace(tzinfo=None)
    try:
        # 0001-01-01T00:00:00+14:00 (and 9999-12-31T23:59:59-14:00) are valid ISO dates whose UTC moment Python
        # cannot represent: before year 1 (and after year 9999).
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        if moment.year == datetime.max.year:
            raise RowError("date in the future") from None
        raise RowError(f"date out of range (before {EARLIEST.year})") from None
    if moment < EARLIEST:
        raise RowError(f"date out of range (before {EARLIEST.year})")
    if moment > latest:
        raise RowError("date in the future")
    return moment.isoformat()


NEGATIVE_TOTAL = "negative value (a return or refund is an order's status: refunded)"
# A return written as a line or an invoice of its own ("C536366" in the UCI retail data, quantity -2): not a
# purchase. Import the returned order with the status refunded instead; the return's own order row, if the file
# made one, is best left out too.
NEGATIVE_QUANTITY = ("negative value (a returned item is not a purchase: give the order it came from the status "
                     "refunded, and leave the return's own rows out)")
_PLAIN_NUMBER = re.compile(r"[0-9]*\.?[0-9]*")
# Thousands separators that never mean a decimal point: spaces (also no-break and narrow no-break) and
# apostrophes ("1 234,56", "1'234.50").
_GROUP_SPACES = re.compile(r"[0-9]{1,3}(?:[ '\u00a0\u202f][0-9]{3})+(?:[.,][0-9]+)?")


# A currency written beside the amount ("$12.00", "€ 12,00", "12.50 EUR", "USD 1,286.01", "R$ 10"): taken off
# before the number is read. The shop's currency (or the file's currency column) says which one it is.
_CURRENCY = r"(?:[A-Z]{3}|US\$|R\$|[$€£¥₹₽₩₺₴₫₪฿]|kr|zł|Kč|Fr\.)"
_AMOUNT = r"[-0-9][0-9.,' \u00a0\u202f]*?"
_WITH_CURRENCY = re.compile(r"\s*(?:" + _CURRENCY + r"\s*(?P<a>" + _AMOUNT + r")|(?P<b>" + _AMOUNT + r")\s*" + _CURRENCY
                            + r")\s*")


def _grouped(text: str, separator: str) -> bool:
    """Whether `text` (digits and `separator`) groups its digits in threes: 1.234.567, 12,345."""
    return re.fullmatch(r"[0-9]{1,3}(?:" + re.escape(separator) + r"[0-9]{3})+", text) is not None


def number_text_normalise(value: str, *, decimal_comma: bool, points_group: bool = False) -> str:
    """A number as written in a shop's file → Python's notation (the point as decimal separator, no grouping).

    `decimal_comma` is True for files separated by `;`, tab or `|`, where "19,99" means 19.99 (spreadsheets in
    most of Europe write them so). `points_group` is True for a column of such a file whose values write the
    decimal comma (`decimal_comma_columns`: "12,50" or "1.234,56" in some row): there a point only groups
    thousands. The rules, in that order:
    - spaces and apostrophes between groups of three digits are thousands separators: "1 234,56", "1'234.50";
    - with both a point and a comma, the later one is the decimal separator and the other must group the
      digits in threes: "1.234,56" and "1,234.56" are both 1234.56; "1,2.5" is not a number;
    - a comma alone is the decimal separator in a decimal-comma file ("19,99"; "1,234" is 1.234 there, as a
      spreadsheet would read it); in a comma-separated file (a quoted value) it can only separate thousands
      ("1,234" is 1234) and "19,99" is refused: it cannot be told from a typo;
    - points alone: in a column that writes the decimal comma (`points_group`) points group thousands ("1.234"
      and "2.500" are 1234 and 2500); elsewhere one point is the decimal point ("19.99") and several group
      thousands ("1.234.567");
    - a currency symbol or code before or after the amount is dropped ("$1,286.01", "12,50 €", "USD 12.50").
    - a minus sign before any of these keeps its number negative ("-23,243.75": a refund, refused as such).
    Anything else is returned unchanged (and then refused as not a number)."""
    if _PLAIN_NUMBER.fullmatch(value) and not (points_group and "." in value):
        return value
    if value.startswith("-") and len(value) > 1 and value[1] != "-":
        rest = number_text_normalise(value[1:], decimal_comma=decimal_comma, points_group=points_group)
        return "-" + rest if rest != value[1:] or _PLAIN_NUMBER.fullmatch(rest) else value
    text = value
    money = _WITH_CURRENCY.fullmatch(text) if len(text) <= 64 else None  # no amount is longer
    if money:
        text = money["a"] or money["b"]
        if _PLAIN_NUMBER.fullmatch(text) and not (points_group and "." in text):
            return text
    if _GROUP_SPACES.fullmatch(text):
        text = re.sub(r"[ '\u00a0\u202f]", "", text)
    has_point, has_comma = "." in text, "," in text
    if has_point and has_comma:
        decimal, thousands = (",", ".") if text.rfind(",") > text.rfind(".") else (".", ",")
        whole, _, fraction = text.rpartition(decimal)
        if _grouped(whole, thousands) and fraction.isdigit():
            return whole.replace(thousands, "") + "." + fraction
        return value
    if has_comma:
        if decimal_comma:
            return text.replace(",", ".") if text.count(",") == 1 else value
        return text.replace(",", "") if _grouped(text, ",") else value
    if (points_group or text.count(".") > 1) and _grouped(text, "."):
        return text.replace(".", "")
    return text


# An amount written with one separator and three digits after it, "1.234" or "2,500": a thousands separator or
# a decimal one with a third decimal, which the column's other values may tell (`decimal_comma_columns`).
_THOUSANDS_SHAPE = re.compile(r"[1-9][0-9]{0,2}\.[0-9]{3}")
# Whether a file's amount writes the decimal comma: 12,50 or 1.234,56 (currency beside it or not).
_DECIMAL_COMMA_WRITTEN = re.compile(r"(?<![0-9,.])(?:[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+),[0-9]{1,2}(?![0-9,.])")
# ... or the decimal point: 12.50, 1,234.56, 0.125 (a point after a 0 or before other than three digits).
_DECIMAL_POINT_WRITTEN = re.compile(r"(?<![0-9,.])(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)\.(?:[0-9]{1,2}|[0-9]{4,})"
                                    r"(?![0-9,.])|(?<![0-9,.])0\.[0-9]+(?![0-9,.])")


def decimal_mark_written(value: str) -> str | None:
    """"," when an amount as written shows the decimal comma (12,50; 1.234,56), "." when it shows the decimal
    point (12.50; 1,234.56; 0.125), None when it does not tell (99, 1.234, 2.500, 1.234.567)."""
    if _DECIMAL_COMMA_WRITTEN.search(value):
        return ","
    if _DECIMAL_POINT_WRITTEN.search(value):
        return "."
    return None


def amount_ambiguous(value: str) -> bool:
    """Whether an amount as written ("1.234", "€ 2.500") can be read with a thousands point or a decimal one."""
    money = _WITH_CURRENCY.fullmatch(value) if len(value) <= 64 else None
    return _THOUSANDS_SHAPE.fullmatch((money["a"] or money["b"]) if money else value.strip()) is not None


# The money fields a column named in cents is read for (an offer's `value` is a percentage for some offers).
CENTS_FIELDS = frozenset({"total", "unit_price", "price", "cost_per_redemption", "min_spend"})


def in_cents(column_name: str) -> bool:
    """Whether a file's column holds an amount in cents by its name (in any case): its last word is "cents"
    (total_cents, "Amount (in cents)"), not a word ending so (discount_percents, accents)."""
    words = [w for w in re.split(r"[\W_]+", column_name.lower()) if w]
    return bool(words) and words[-1] == "cents"


def _decimal(value: str, column: Column, *, decimal_comma: bool = False, points_group: bool = False,
             cents: bool = False, rounded: list | None = None) -> str:
    """`cents`: the column holds cents (`in_cents`): 1999 is 19.99 (a payment provider's export). `points_group`:
    the column writes the decimal comma (see `number_text_normalise`). `rounded`: gets (column name, value as
    written, value stored) for each amount that rounding to the cent changes (0,125 → 0.13), which the import says."""
    written = value
    value = number_text_normalise(value, decimal_comma=decimal_comma, points_group=points_group)
    try:
        number = Decimal(value)
    except InvalidOperation:
        if "," in written and not decimal_comma:
            raise RowError("not a number (write 19.99: a comma is read as the decimal separator only in "
                           "files separated by ;)") from None
        raise RowError("not a number") from None
    if not number.is_finite():
        raise RowError("not a number")
    if cents:
        number = number.scaleb(-2)
    elif decimal_comma and _THOUSANDS_SHAPE.fullmatch(value.removeprefix("-")):
        # In a ;-file three decimals are not rounded away quietly: 1.234 stored as 1.23 was 1234 written with a
        # thousands point (a German file's "Betrag" column read 1000 times too small); 2.500 in a column that never
        # shows which separator it writes is 2.5 or 2500. (In a comma file the point is the decimal point.)
        if decimal_comma and not points_group and "." in written:
            raise RowError(f"{written} can be {value.replace('.', '')} (a thousands point) or {number.normalize():f} "
                           "(a decimal point): no value of its column writes a decimal comma (12,50), which would "
                           f"make the point a thousands separator; write {value.replace('.', '')} or round to cents")
        if number != number.quantize(CENT):
            raise RowError(f"{written} has three decimals (amounts are kept to the cent): if its comma groups "
                           f"thousands write it without ({value.replace('.', '')}), else round it to cents")
    if number < 0:
        raise RowError(NEGATIVE_TOTAL if column.name == "total" else "negative value")
    # Compared before rounding: quantize() itself fails on 1e300 (more digits than the context holds).
    if (column.limit is not None and number >= column.limit) or number.adjusted() >= MAX_DECIMAL_DIGITS:
        raise RowError("number too large")
    try:
        cents_only = number.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise RowError("number too large") from None
    if column.limit is not None and cents_only >= column.limit:
        raise RowError("number too large")
    if rounded is not None and cents_only != number:
        rounded.append((column.name, written, str(cents_only)))
    return str(cents_only)


def _int(value: str, column: Column) -> str:
    try:
        number = int(value)
    except ValueError:
        try:  # "2.0" (a spreadsheet's whole number) is 2; "2.5" is not whole
            exact = Decimal(value)
        except InvalidOperation:
            raise RowError("not a whole number") from None
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise RowError("not a whole number") from None
        if exact.adjusted() > 9:  # int() of "1e9999999" would build ten million digits first
            raise RowError("number too large") from None
        number = int(exact)
    if number < 0:
        raise RowError(NEGATIVE_QUANTITY if column.name in ("quantity", "item_count") else "negative value")
    if number > 2_147_483_647:
        raise RowError("number too large")
    return str(number)


def _bool(value: str, column: Column) -> str:
    word = _word(value)
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    raise RowError("not a yes/no value (expected true/false, 1/0, yes/no, subscribed/unsubscribed)")


_STARS = re.compile(r"([0-9]+(?:[.,][0-9]+)?|one|two|three|four|five)"
                    r"\s*(?:(?:/|out\s+of|von|sur|de|su)\s*(5|10|100))?"
                    r"\s*(?:stars?|sterne?|étoiles?|estrellas?|stelle|星|★|⭐)?", re.IGNORECASE)
_STAR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def _rating(value: str, column: Column) -> str:
    """Stars 1-5: "4", "4.0", "4,5" (half stars round up), "4/5", "8/10", "4 out of 5", "4 stars", "4 ★", "four
    stars", "★★★★☆", "⭐⭐⭐⭐". A rating on another scale is rounded to stars first ("1/10" is 1 star)."""
    value = value.strip()
    if not value.strip("★☆⭐ ") and ("★" in value or "⭐" in value):
        number = Decimal(value.count("★") + value.count("⭐"))
    else:
        match = _STARS.fullmatch(value)
        if match is None:
            raise RowError("rating is not a number (expected 1 to 5 stars)")
        word = match.group(1).lower()
        number = Decimal(_STAR_WORDS[word]) if word in _STAR_WORDS else Decimal(word.replace(",", "."))
        if match.group(2):
            number = number * 5 / Decimal(match.group(2))
    stars = number.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if not 1 <= stars <= 5 or number > 5:
        raise RowError("rating out of range (expected 1 to 5 stars)")
    return str(int(stars))


def _reject_constant(name: str):
    raise ValueError(name)


def json_canonical(value: str, column: Column) -> str:
    try:
        parsed = json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        raise RowError("invalid JSON") from None
    # Only escapes can smuggle in what PostgreSQL's jsonb refuses (a raw NUL or lone surrogate is invalid JSON).
    if "\\u" in value and _json_unstorable(parsed):
        raise RowError("JSON contains \\u0000 or an unpaired surrogate escape (PostgreSQL cannot store it)")
    return value


def _json_unstorable(value) -> bool:
    """Whether a parsed JSON value holds a NUL or a lone surrogate in any string or key (jsonb refuses them)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_json_unstorable(k) or _json_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_unstorable(v) for v in value)
    return False


def _status(value: str, column: Column) -> str:
    word = _word(value).removeprefix("wc_")
    if "(" in word:  # PrestaShop's "On backorder (paid)"
        word = re.sub(r"_+", "_", word.replace("(", "_").replace(")", "_")).strip("_")
    status = ORDER_STATUSES.get(word)
    if status is None and word == "closed":
        raise RowError("ambiguous status closed (refunded in some shop systems, completed in others): replace it in "
                       "the file with refunded or placed, whichever your shop means")
    if status is None:
        raise RowError("unknown status (expected placed, cancelled or refunded, or a shop's word for one: "
                       "completed, shipped, paid, canceled, returned…)")
    return status


def _currency(value: str, column: Column) -> str:
    if len(value) != 3 or not value.isalpha():
        raise RowError("not a 3-letter currency code")
    return value.upper()


def category_path_normalize(value: str) -> str:
    """'Home>Kitchen ' → 'Home > Kitchen' (the form stored in catalog.Category.path). A path without ">" may
    be written with "/" (Magento: 'Default Category/Men/Tops') or " | ": those separate levels too."""
    if ">" not in value:
        value = value.replace(" | ", ">").replace("/", ">")
    return " > ".join(part.strip() for part in value.split(">") if part.strip())


def _category(value: str, column: Column) -> str:
    return _text(category_path_normalize(value), column)


# Names shops write for a country that ISO 3166 (pycountry) does not list: the usual short forms and the
# countries' own names for themselves, for the shops' biggest markets.
_COUNTRY_NAMES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US",
    "america": "US", "deutschland": "DE", "österreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "españa": "ES", "espana": "ES", "italia": "IT", "nederland": "NL", "holland": "NL", "the netherlands": "NL",
    "belgië": "BE", "belgique": "BE", "polska": "PL", "sverige": "SE", "norge": "NO", "danmark": "DK",
    "suomi": "FI", "česko": "CZ", "czech republic": "CZ", "magyarország": "HU", "éire": "IE", "brasil": "BR",
    "méxico": "MX", "россия": "RU", "russia": "RU", "türkiye": "TR", "turkey": "TR", "中国": "CN", "日本": "JP",
    "south korea": "KR", "korea": "KR", "vietnam": "VN", "iran": "IR", "taiwan": "TW", "uae": "AE",
}


@functools.cache
def _countries() -> dict[str, str]:
    """Every spelling we read (lower case) → ISO 3166 alpha-2."""
    import pycountry

    names = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                names[value.lower()] = country.alpha_2
    return {**names, **_COUNTRY_NAMES}


def country_canonical(value: str) -> str:
    """A country as ISO 3166 alpha-2 ("Germany", "DEU", "Deutschland", "de" → "DE"), so one country is one
    country in forecasts, alerts and filters; a name we do not know is returned as written. Imports store it so,
    and filters read theirs so."""
    return _countries().get(value.strip().lower(), value)


@functools.cache
def _country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 → the name people use ("DE" → "Germany", "TW" → "Taiwan": pycountry's common name)."""
    import pycountry

    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


def country_name(code: str) -> str:
    """A stored country (ISO 3166 alpha-2, what `country_canonical` gives) as its name ("DE" → "Germany"); a value
    that is no code is returned as written. For pages: the API and exports keep the codes."""
    return _country_names().get((code or "").strip().upper(), code) if len(code or "") == 2 else code


def country_label(code: str) -> str:
    """A country as a select or a wide cell shows it: "Germany (DE)"; a value that is no code, as written."""
    name = country_name(code)
    return f"{name} ({code.upper()})" if name != code else code


def _country(value: str, column: Column) -> str:
    code = country_canonical(value)
    return code if code is not value else _text(value, column)


CONVERTERS: dict[str, Callable[[str, Column], str]] = {
    "text": _text, "id": _text, "decimal": _decimal, "int": _int, "bool": _bool, "json": json_canonical,
    "status": _status, "currency": _currency, "category": _category, "rating": _rating, "country": _country,
}


def md5_uuid(text: str) -> str:
    """MD5 of `text` as 32 hex digits (a UUID's value): stable ids for rows without one."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def event_idempotency_key(*, event_id: str | None, customer_id: str, type: str, product_id: str | None,
                          occurred_at: str, session_id: str | None, properties: str | None) -> str:
    """The event's idempotency key (32 hex digits): MD5 of "id:<event_id>", else of its content.

    `occurred_at` is the canonical UTC ISO text, so the same moment written two ways hashes the same."""
    if event_id:
        return md5_uuid("id:" + event_id)
    return md5_uuid("|".join((customer_id, type, product_id or "", occurred_at, session_id or "", properties or "")))


def review_derived_id(*, customer_id: str | None, product_id: str | None, created_at: str | None,
                      title: str | None, text: str | None, rating: str | None, order_id: str | None = None) -> str:
    """The external id of a review imported without one, from its content (re-imports match). The order it names,
    when it names one, is part of it (two reviews of two orders, alike otherwise, are two reviews); a row without
    an order keeps the id it always had."""
    parts = (customer_id or "", product_id or "", created_at or "", rating or "", title or "", text or "")
    return "auto-" + md5_uuid("|".join((*parts, order_id) if order_id else parts))


def order_derived_id(*, customer_id: str, placed_at: str, total: str | None) -> str:
    """The external id of an order imported without one, from its content (re-imports match)."""
    return "auto-" + md5_uuid("|".join((customer_id, placed_at, total or "")))

