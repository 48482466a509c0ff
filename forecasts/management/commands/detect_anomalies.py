"""python manage.py detect_anomalies [--from DATE --to DATE] [--json]"""

from accounts.management.base import ShopCommand
from forecasts.ml.anomalies import DetectorConfig
from forecasts.services.alerts import alerts_reconcile, anomalies_check_window, anomaly_dict
from predictions.management.commands._args import iso_date


class Command(ShopCommand):
    help = "Check every monitor (orders, revenue, AOV, refunds, cancellations, new customers, events) for anomalies."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=iso_date, help="first day (default: 6 days before --to)")
        parser.add_argument("--to", dest="end", type=iso_date,
                            help="last day (default: the last complete day of the shop's orders or events)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--save", action="store_true", help="also store them as alerts (the Alerts page)")

    def handle_shop(self, shop, **options):
        found, window = anomalies_check_window(shop=shop, start=options["start"], end=options["end"])
        if options["save"]:
            # what the stored alerts of these days became (late data corrects them: README "Late data corrects
            # alerts"); on stderr, the JSON document keeping its one key
            changes = alerts_reconcile(shop=shop, anomalies=found, window=window)
            self.stderr.write(f"saved: {len(changes.news)} new alert(s), {len(changes.updated)} updated, "
                              f"{len(changes.withdrawn)} withdrawn (no e-mail is sent from here).")
        items = [anomaly_dict(a) for a in found]
        days = f"{window.start.date()} to {window.end.date()}"
        if window.status_end is not None:
            days += f" (refunds and cancellations dated later: to {window.status_end.date()})"
        # Notes go to stderr, also with --json (its document keeps the keys): what could not be judged.
        if window.end > window.data_end.normalize():
            self.stderr.write(f"note: the shop's data ends on {window.data_end.date()}: later days are not judged.")
        nothing = window.judged_from > window.end and not items
        why = (f"a day needs {DetectorConfig().min_history_days} days of the shop's data before it (the first judged "
               f"is {window.judged_from.date()})")
        if nothing and options["json"]:
            self.stderr.write(f"note: nothing could be judged from {days}: {why}.")
        elif window.judged_from > window.start and not nothing:
            self.stderr.write(f"note: the days before {window.judged_from.date()} have too little history to be "
                              f"judged ({DetectorConfig().min_history_days} days of data before each).")
        if options["json"]:
            if not nothing:  # which days the answer speaks for (an empty list of a default window read as "all well")
                self.stderr.write(f"judged {days}: {len(items)} anomal{'y' if len(items) == 1 else 'ies'}.")
            self.print_json({"anomalies": items})
            return
        if nothing:
            self.stdout.write(f"Nothing could be judged from {days}: {why}.")
            return
        if not items:
            self.stdout.write(f"No anomalies from {days}.")
        for a in items:
            self.stdout.write(f"{a['date']}..{a['end']}  {a['metric']:<18} {a['segment']:<24} {a['direction']:<5} "
                              f"actual {a['actual']:,} vs expected {a['expected']:,} (score {a['score']})")
