"""Every fault the simulator's --dirty mode injects is handled by the import as a user expects:
bad rows reported at their line, duplicates counted not stored, out-of-order rows accepted."""

import csv
import datetime as dt
import json

import pytest

from behavior.models import GUEST_CUSTOMER_ID, Customer, Event, Order
from behavior.services import data_import
from behavior.simulator import SimulationConfig, simulate

KINDS = ("customers", "products", "orders", "order_lines", "events")
ACCEPTED = {"out_of_order", "duplicate_row"}  # not errors: stored (once)
# An order without a customer id is a guest checkout, kept under the shop's guest customer, --no-create or not.
GUEST_CHECKOUTS = {("orders", "missing_customer_id")}


@pytest.fixture(scope="module")
def dirty_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty")
    simulate(SimulationConfig(customers=400, products=60, days=150, seed=5, end_date=dt.date(2026, 6, 30),
                              dirty=True), out)
    return out


def _rejected_lines(report: str | None) -> dict[int, str]:
    if not report:
        return {}
    with open(report, newline="", encoding="utf-8") as handle:
        return {int(row["line"]): row["reason"] for row in csv.DictReader(handle)}


@pytest.mark.django_db
def test_each_injected_fault_is_rejected_at_its_line_and_everything_else_is_stored(shop, dirty_dir):
    manifest = json.loads((dirty_dir / "dirty_manifest.json").read_text())
    for kind in KINDS:
        result = data_import(shop=shop, kind=kind, path=dirty_dir / f"{kind}.csv", create_missing=False)
        rejected = _rejected_lines(result.report)
        faults = manifest[f"{kind}.csv"]
        for fault, lines in faults.items():
            if (kind, fault) in GUEST_CHECKOUTS:
                assert not set(lines) & set(rejected), f"{kind}: {fault} rows are guest checkouts, kept"
                assert result.guest_rows >= len(lines), kind
            elif fault in ACCEPTED:
                # Only knock-on rejections: a row naming a product or customer whose own row was bad.
                wrong = [rejected[line] for line in lines if line in rejected
                         and not rejected[line].startswith("unknown")]
                assert not wrong, f"{kind}: {fault} rows must be accepted, got {wrong[:3]}"
            else:
                missing = set(lines) - set(rejected)
                assert not missing, f"{kind}: {fault} at lines {sorted(missing)[:5]} not reported"
                assert all(rejected[line] for line in lines)
        kept_duplicates = [line for line in faults.get("duplicate_row", []) if line not in rejected]
        assert result.duplicates >= len(kept_duplicates), kind
        assert result.inserted + result.updated + result.duplicates + result.rejected == result.rows, kind
    # --no-create made no stand-ins; the guest customer, the shop's own, is none (as everywhere that counts them)
    assert Customer.objects.filter(shop=shop, is_stub=True).exclude(external_id=GUEST_CUSTOMER_ID).count() == 0
    assert Order.objects.filter(shop=shop, customer__external_id=GUEST_CUSTOMER_ID).exists()
    assert Order.objects.filter(shop=shop).exists() and Event.objects.filter(shop=shop).exists()


@pytest.mark.django_db
def test_importing_the_dirty_files_again_changes_nothing(shop, dirty_dir):
    for kind in KINDS:
        data_import(shop=shop, kind=kind, path=dirty_dir / f"{kind}.csv")
    counts = (Customer.objects.count(), Order.objects.count(), Event.objects.count())
    for kind in KINDS:
        again = data_import(shop=shop, kind=kind, path=dirty_dir / f"{kind}.csv")
        assert again.inserted == 0 and again.updated == 0, kind
    assert (Customer.objects.count(), Order.objects.count(), Event.objects.count()) == counts
