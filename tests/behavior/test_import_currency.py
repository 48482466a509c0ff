"""A shop's currency from its first orders (F2): a shop created by `import_data` took the default currency (EUR), and a
USD export then counted every order as one "in a currency other than the shop's", its figures labelled in euros."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditLog, Shop

pytestmark = pytest.mark.django_db

USD_ORDERS = "order_id,customer_id,placed_at,total,currency\nO1,C1,2024-02-01,10,USD\nO2,C2,2024-02-02,20,usd\n"


def _import(slug, path, *args, kind="orders"):
    out = io.StringIO()
    try:
        call_command("import_data", kind, str(path), "--shop", slug, *args, stdout=out)
    finally:
        _import.document = json.loads(out.getvalue().strip().splitlines()[-1]) if out.getvalue().strip() else None
    return _import.document


def test_a_new_shop_takes_the_one_currency_its_orders_file_names_and_warns_of_none(db, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(USD_ORDERS)
    document = _import("us-shop", path)
    assert (document["inserted"], document["other_currencies"], document["shop_currency"]) == (2, {}, "USD")
    assert Shop.objects.get(slug="us-shop").currency == "USD"
    progress = capsys.readouterr().err
    assert "the shop 'us-shop' takes the currency USD, the one currency its orders file names" in progress
    assert "currency other" not in progress
    assert AuditLog.objects.filter(action="shop.currency_set", details__to="USD").exists()


def test_a_file_of_several_currencies_leaves_the_shops_own_and_is_warned_of(db, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(USD_ORDERS + "O3,C3,2024-02-03,5,GBP\n")
    document = _import("mixed", path)
    assert (document["shop_currency"], document["other_currencies"]) == ("EUR", {"GBP": 1, "USD": 2})
    assert "orders in a currency other than the shop's (EUR)" in capsys.readouterr().err


def test_currency_option_names_a_new_shops_currency_and_is_refused_for_a_shop_with_orders_in_another(
        db, tmp_path, import_dir, capsys):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,email\nC1,a@example.com\n")
    assert _import("uk-shop", customers, "--currency", "gbp", kind="customers")["shop_currency"] == "GBP"
    assert Shop.objects.get(slug="uk-shop").currency == "GBP"
    # Its orders without a currency column are the shop's: nothing to warn of.
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,placed_at,total\nC1,2024-02-01,10\n")
    assert _import("uk-shop", orders)["other_currencies"] == {}
    # The shop holds orders now: another currency would relabel their totals. Refused, the shop unchanged.
    with pytest.raises(CommandError, match=r"holds orders in GBP: --currency USD applies only to a shop without"):
        _import("uk-shop", orders, "--currency", "USD")
    assert (_import.document["status"], Shop.objects.get(slug="uk-shop").currency) == ("failed", "GBP")
    # The same currency is no change; an unreadable code is said as such, and leaves no new shop behind.
    assert _import("uk-shop", orders, "--currency", "GBP")["updated"] == 0
    with pytest.raises(CommandError, match="--currency expects a 3-letter currency code"):
        _import("new-shop", orders, "--currency", "dollars")
    assert not Shop.objects.filter(slug="new-shop").exists()


def test_a_dry_run_into_a_kept_shop_without_orders_does_not_change_its_currency(shop, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(USD_ORDERS)
    assert _import(shop.slug, path, "--dry-run")["dry_run"] is True
    progress = capsys.readouterr().err
    assert "would take the currency USD" in progress
    shop.refresh_from_db()
    assert shop.currency == "EUR"
    # The file's USD rows are compared with the currency the shop would take, not warned of as another currency.
    document = _import.document
    assert (document["shop_currency"], document["other_currencies"]) == ("USD", {})
    assert "currency other than the shop's" not in progress


def test_an_uploaded_orders_file_settles_a_new_shops_currency_like_the_command(shop, tmp_path, import_dir):
    # The upload page's job (the task runs import_job_run): its USD orders were all "in another currency", the
    # shop's figures labelled in euros.
    from behavior.services import import_job_create
    from behavior.tasks import data_import_task

    path = tmp_path / "orders.csv"
    path.write_text(USD_ORDERS)
    trial = data_import_task(import_job_create(shop=shop, kind="orders", path=path, dry_run=True).pk)
    assert (trial["shop_currency"], trial["other_currencies"]) == ("USD", {})
    shop.refresh_from_db()
    assert shop.currency == "EUR"  # a trial run changes nothing
    document = data_import_task(import_job_create(shop=shop, kind="orders", path=path).pk)
    assert (document["inserted"], document["shop_currency"], document["other_currencies"]) == (2, "USD", {})
    shop.refresh_from_db()
    assert shop.currency == "USD"
    assert AuditLog.objects.filter(shop=shop, action="shop.currency_set", details__to="USD").exists()
