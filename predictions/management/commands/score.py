"""python manage.py score [--task ...] [--as-of DATE] [--export FILE.csv] [--json]"""

import csv

from django.core.management.base import CommandError

from accounts.management.base import ShopCommand
from ecomsight.csvsafe import neutralise
from predictions.models import CustomerScore, ScoringRun
from predictions.services.scoring import scoring_run_create, scoring_run_execute, scoring_run_resume

from ._args import iso_date, positive_int


class Command(ShopCommand):
    help = "Score every eligible customer with the champion models (in chunks; --background uses the workers)."

    def add_arguments(self, parser):
        parser.add_argument("--task", choices=["purchase", "churn"],
                            help="only report this task (both champions are always scored)")
        parser.add_argument("--as-of", type=iso_date, help="score as of this date (default: the last order)")
        parser.add_argument("--export", metavar="FILE.csv", help="also write the scores to a CSV file")
        parser.add_argument("--chunk-size", type=positive_int, default=25_000)
        parser.add_argument("--background", action="store_true",
                            help="enqueue the chunks for the Celery workers and return at once")
        parser.add_argument("--resume", type=positive_int, metavar="RUN_ID",
                            help="finish an interrupted scoring run (its missing chunks run again)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        if options["resume"]:
            run = ScoringRun.objects.filter(shop=shop, pk=options["resume"]).first()
            if run is None:
                raise CommandError(f"Shop '{shop.slug}' has no scoring run {options['resume']}.")
            run = scoring_run_resume(run_id=run.pk, enqueue=options["background"])
            self._report(run, options)
            return
        run = scoring_run_create(shop=shop, as_of=options["as_of"], chunk_size=options["chunk_size"],
                                 enqueue=options["background"])
        if not options["background"]:
            self.progress(f"scoring {run.customers_total} customers in {run.chunks_total} chunks")
            run = scoring_run_execute(run=run, progress=self.progress)
        self._report(run, options)

    def _report(self, run, options):
        scores = CustomerScore.objects.filter(scoring_run=run)
        if options["task"]:
            scores = scores.filter(task=options["task"])
        exported = None
        if options["export"] and not options["background"]:
            exported = self._export(scores, options["export"])
        report = {"scoring_run": run.pk, "job": run.job_id, "status": run.status,
                  "as_of": run.as_of.date().isoformat(), "customers": run.customers_total,
                  "chunks": run.chunks_total, "scores": scores.count(), "export": exported,
                  **{t: run.summary.get(t) for t in ("purchase", "churn") if t in run.summary}}
        if options["json"]:
            self.print_json(report)
        else:
            self.stdout.write(f"Scoring run {run.pk}: {run.status}, {report['scores']} scores as of {report['as_of']}.")
            if exported:
                self.stdout.write(f"Written to {exported}.")

    def _export(self, scores, path: str) -> str:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id", "task", "probability", "risk_band", "decile", "expected_orders",
                             "p_alive", "spend_12m", "revenue_at_risk", "reason_1", "reason_2", "reason_3"])
            rows = scores.select_related("customer").order_by("task", "decile", "-probability").iterator(5000)
            for s in rows:
                reasons = (list(s.reasons) + ["", "", ""])[:3]
                writer.writerow([neutralise(s.customer.external_id), s.task, f"{s.probability:.4f}", s.risk_band,
                                 s.decile, _num(s.expected_orders), _num(s.p_alive), _num(s.spend_12m),
                                 _num(s.revenue_at_risk), *[neutralise(r) for r in reasons]])
        return path


def _num(value) -> str:
    return "" if value is None else f"{value:.4f}"
