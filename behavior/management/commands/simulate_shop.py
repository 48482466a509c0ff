"""`simulate_shop`: write a synthetic shop's CSV files (and the truth behind them) into a folder."""

import json
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from behavior.simulator import DEFAULT_END_DATE, PRESETS, preset_config, simulate


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--end-date must be a date like 2026-06-30, not {text!r}") from None


class Command(BaseCommand):
    help = (
        "Simulate a shop (customers, products, orders, order lines, events) in the CSV import formats, "
        "plus truth.csv with each customer's true purchase probabilities. Touches no database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=None, metavar="N",
                            help="customers (default 2000, or the preset's)")
        parser.add_argument("--products", type=int, default=None, metavar="M",
                            help="products (default 500, or the preset's)")
        parser.add_argument("--days", type=int, default=None, metavar="D",
                            help="days of data, ending with --end-date (default 365, or the preset's)")
        parser.add_argument("--preset", default=None, metavar="NAME",
                            help=f"a shop shaped like a real one: {', '.join(PRESETS)} (see the README); "
                                 "explicit --customers/--products/--days still win")
        parser.add_argument("--seed", type=int, default=0, metavar="S")
        parser.add_argument("--out", required=True, metavar="DIR", help="folder for the CSV files (created)")
        parser.add_argument("--future-days", type=int, default=0, metavar="H",
                            help="also write future_orders.csv / future_order_lines.csv for the H days after the end")
        parser.add_argument("--dirty", action="store_true",
                            help="inject faults into the files and list them in dirty_manifest.json")
        parser.add_argument("--end-date", type=str, default=DEFAULT_END_DATE.isoformat(), metavar="YYYY-MM-DD",
                            help=f"last day of data (default {DEFAULT_END_DATE.isoformat()}, fixed so runs repeat)")

    def handle(self, *args, **options):
        try:
            config = preset_config(
                options["preset"], customers=options["customers"], products=options["products"],
                days=options["days"], seed=options["seed"], end_date=_iso_date(options["end_date"]),
                future_days=options["future_days"], dirty=options["dirty"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        out = Path(options["out"])
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file of that name, a file on the way, no permission: say so, no traceback
            raise CommandError(f"--out {out}: {exc.strerror or exc}") from None
        summary = simulate(config, out, progress=self._progress)
        document = {
            "out": str(out), "customers": summary.customers, "products": summary.products,
            "orders": summary.orders, "order_lines": summary.order_lines, "events": summary.events,
            "seconds": summary.seconds, "preset": config.preset,
        }
        if config.future_days:
            document.update(future_orders=summary.future_orders, future_order_lines=summary.future_order_lines)
        self.stdout.write(json.dumps(document))

    def _progress(self, message: str) -> None:
        # Progress is for people and goes to stderr, so stdout stays one parseable JSON line.
        self.stderr.write(message, style_func=lambda text: text)
