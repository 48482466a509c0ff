"""python manage.py forecast [--horizon DAYS] [--json]"""

from accounts.management.base import ShopCommand
from forecasts.services.runs import forecast_run_create
from predictions.management.commands._args import positive_int


class Command(ShopCommand):
    help = "Forecast orders, revenue and units per shop, country, category and top product, daily and weekly."

    def add_arguments(self, parser):
        parser.add_argument("--horizon", type=positive_int, default=None,
                            help="days (default: the shop's horizon setting, 90 unless changed; at most 365)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        run = forecast_run_create(shop=shop, horizon_days=options["horizon"], progress=self.progress)
        report = {"run_id": run.pk, "cutoff": run.cutoff.isoformat(), "horizon_days": run.horizon_days,
                  "values": run.values.filter(is_actual=False).count(), **run.summary}
        if options["json"]:
            self.print_json(report)
            return
        self.stdout.write(f"Forecast run {run.pk}: data up to {run.cutoff}, {run.horizon_days} days ahead, "
                          f"{report['values']} values stored")
        for level, measures in run.summary["levels"].items():
            for measure, freqs in measures.items():
                for freq, info in freqs.items():
                    off = info["validation_wape_pct"]
                    words = "no validation window yet" if off is None else f"off by {off:.0f} % on validation"
                    self.stdout.write(f"  {level:<9}{measure:<8}per {freq:<5}{info['series']:>5} series  "
                                      f"champion {info['champion']:<15}{words}")
        for line in run.summary["skipped"]:
            self.stdout.write(f"  skipped: {line}")
        for line in run.summary.get("notes", []):
            self.stdout.write(f"  note: {line}")
