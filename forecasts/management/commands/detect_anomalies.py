"""python manage.py detect_anomalies [--from DATE --to DATE] [--json]"""

from accounts.management.base import ShopCommand
from forecasts.services.alerts import alerts_save, anomalies_detect, anomaly_dict
from predictions.management.commands._args import iso_date


class Command(ShopCommand):
    help = "Check every monitor (orders, revenue, AOV, refunds, cancellations, new customers, events) for anomalies."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=iso_date, help="first day (default: 7 days before --to)")
        parser.add_argument("--to", dest="end", type=iso_date, help="last day (default: the last day with orders)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--save", action="store_true", help="also store them as alerts (the Alerts page)")

    def handle_shop(self, shop, **options):
        found = anomalies_detect(shop=shop, start=options["start"], end=options["end"])
        if options["save"]:
            alerts_save(shop=shop, anomalies=found)
        items = [anomaly_dict(a) for a in found]
        if options["json"]:
            self.print_json({"anomalies": items})
            return
        if not items:
            self.stdout.write("No anomalies.")
        for a in items:
            self.stdout.write(f"{a['date']}..{a['end']}  {a['metric']:<16}{a['segment']:<24}{a['direction']:<5}"
                              f"actual {a['actual']:,} vs expected {a['expected']:,} (score {a['score']})")
