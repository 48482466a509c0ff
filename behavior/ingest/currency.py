"""The currency a shop takes from its first orders import (`import_data --currency`, or its orders file).

A shop created by `import_data` took the default currency (EUR), and a USD export then counted every order as one
"in another currency" (F2). Nothing converts amounts, so a shop's currency only changes while it holds no orders."""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass

from accounts.models import Shop
from accounts.services import shop_currency_set
from behavior.models import Order
from ecomsight.errors import UserError

from .formats import ImportFileError, plan_build, source_open

# Rows of an orders file read for the currency its currency column names: a file's first rows name it as well as
# all of them (a file of several currencies is told in the import's `other_currencies`).
CURRENCY_SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class ShopCurrency:
    """The shop's currency for an import: `source` says who chose it — "option" (--currency), "file" (the orders
    file's currency column), "" (the shop's own, unchanged)."""

    currency: str
    source: str = ""


def currency_code_checked(value: str) -> str:
    """An ISO 4217 code as stored ("usd" → "USD"), or UserError."""
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise UserError(f"--currency expects a 3-letter currency code (USD, EUR, GBP), not '{value}'.",
                        field="currency")
    return code


def orders_file_currency(*, path: str, column_map: dict[str, str] | None = None) -> str | None:
    """The one currency code an orders file's currency column names in its first CURRENCY_SAMPLE_ROWS rows; None
    when it has no such column, names none, or several (the import itself says what is wrong with a file)."""
    try:
        with source_open(path) as source:
            plan = plan_build(kind="orders", header=source.header, column_map=column_map)
            at = plan.indexes[plan.spec.names.index("currency")]
            if at is None:
                return None
            codes = {record[at].strip().upper() for record in itertools.islice(source.reader, CURRENCY_SAMPLE_ROWS)
                     if at < len(record)}
    except (ImportFileError, csv.Error, UnicodeDecodeError):
        return None
    codes = {code for code in codes if len(code) == 3 and code.isalpha()}
    return codes.pop() if len(codes) == 1 else None


def import_shop_currency(*, shop: Shop, kind: str, path: str, column_map: dict[str, str] | None = None,
                         currency: str | None = None, save: bool = True) -> ShopCurrency:
    """Settle the shop's currency before an import: `currency` (--currency) for a shop without orders, refused with
    a UserError when the shop holds orders in another; else, for an orders file into a shop without orders, the
    one currency the file's rows name. `save=False` (a dry run of a shop kept): say it, change nothing."""
    if currency is not None:
        currency = currency_code_checked(currency)
        if currency == shop.currency:
            return ShopCurrency(currency)
        if Order.objects.filter(shop=shop).exists():
            raise UserError(f"The shop '{shop.slug}' holds orders in {shop.currency}: --currency {currency} applies "
                            "only to a shop without orders (nothing converts their totals). Leave --currency out, "
                            "or import into a new shop (--shop NEW-SLUG --currency "
                            f"{currency}).", field="currency")
        source = "option"
    elif kind == "orders" and not Order.objects.filter(shop=shop).exists():
        currency = orders_file_currency(path=path, column_map=column_map)
        if currency is None or currency == shop.currency:
            return ShopCurrency(shop.currency)
        source = "file"
    else:
        return ShopCurrency(shop.currency)
    if save:
        shop_currency_set(shop=shop, currency=currency, reason="--currency" if source == "option" else "orders file")
    return ShopCurrency(currency, source)
