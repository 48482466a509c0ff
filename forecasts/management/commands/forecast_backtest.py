"""python manage.py forecast_backtest --measure orders|revenue|units --freq day|week --cutoff DATE --horizon DAYS
[--level shop|category|country] --json"""

from accounts.management.base import ShopCommand
from forecasts.services.backtest import forecast_backtest
from predictions.management.commands._args import iso_date, positive_int


class Command(ShopCommand):
    help = "Train every forecaster on the data up to a cutoff and score it on what happened after."

    def add_arguments(self, parser):
        parser.add_argument("--measure", choices=["orders", "revenue", "units"], required=True)
        parser.add_argument("--freq", choices=["day", "week"], required=True)
        parser.add_argument("--cutoff", type=iso_date, required=True)
        parser.add_argument("--horizon", type=positive_int, required=True, help="days")
        parser.add_argument("--level", choices=["shop", "category", "country", "product"], default="shop")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        report = forecast_backtest(shop=shop, measure=options["measure"], freq=options["freq"],
                                   cutoff=options["cutoff"], horizon_days=options["horizon"],
                                   level=options["level"], progress=self.progress)
        if options["json"]:
            self.print_json(report)
            return
        self.stdout.write(f"Backtest of {report['measure']} per {report['freq']} ({report['level']} level, "
                          f"{report['series']} series) at {report['cutoff']} + {report['horizon_days']} days")
        self.stdout.write(f"{'model':<16}{'MAE':>10}{'MASE':>8}{'total %':>9}{'cover 80':>10}")
        how = "chosen on validation" if report["validation_origins"] else "no validation window: the default"
        for name, m in report["models"].items():
            mark = f"  <- champion ({how})" if name == report["champion"] else ""
            self.stdout.write(f"{name:<16}{_f(m['mae'], 1):>10}{_f(m['mase'], 2):>8}{_f(m['total_error_pct'], 1):>9}"
                              f"{_f(m['coverage_80'], 2):>10}{mark}")
        for name, why in report["skipped"].items():
            self.stdout.write(f"Not tested: {name}: {why}.")
        for note in report["notes"]:
            self.stdout.write(f"Note: {note}.")


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
