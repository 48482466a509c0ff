"""python manage.py evaluate_recommendations [--k 10] [--json] [--data-report]"""

from accounts.management.base import ShopCommand
from recommendations.ml.config import RECOMMENDER_NAMES
from recommendations.services import recommendations_evaluate

NAMES = (*RECOMMENDER_NAMES, "hybrid")


class Command(ShopCommand):
    help = "Hold out each customer's last order and compare every recommender and the hybrid."

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=10, choices=range(1, 101), metavar="K")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--data-report", action="store_true",
                            help="add the share of held-out products the customer bought before, and never seen")

    def handle_shop(self, shop, **options):
        report = recommendations_evaluate(shop=shop, k=options["k"], data_report=options["data_report"],
                                          progress=self.progress)
        if options["json"]:
            self.print_json(report)
            return
        k = report["k"]
        self.stdout.write(f"{report['customers']} customers evaluated (last order held out), K = {k}")
        self.stdout.write(f"{'recommender':<20}{'HitRate':>9}{'Recall':>9}{'NDCG':>9}{'coverage':>10}{'pop. rank':>11}"
                          f"{'top-3 max':>11}")
        for name in NAMES:
            m = report.get(name)
            if m:
                self.stdout.write(f"{name:<20}{m['hit_rate']:>9.4f}{m['recall']:>9.4f}{m['ndcg']:>9.4f}"
                                  f"{m['coverage']:>10.3f}{m['popularity_bias']:>11.1f}"
                                  f"{m.get('top3_share', 0.0):>11.3f}")
        if report.get("members_without_recommendations"):
            self.stdout.write(f"Recommended nothing here: {', '.join(report['members_without_recommendations'])} "
                              "(content needs product titles or categories, visual product pictures): their zeros "
                              "are not a measurement.")
        if report.get("weights") and report.get("hybrid_choice", "blend") == "blend":  # the blend's weights alone
            idle = set(report.get("members_without_recommendations") or ())  # a weight of nothing is no measure
            weights = ", ".join(f"{n} {w:g}" for n, w in report["weights"].items() if n not in idle)
            self.stdout.write(f"Hybrid weights (fit on a validation split): {weights}")
        if report.get("hybrid_choice"):
            self.stdout.write(f"Hybrid chosen on validation: {report['hybrid_choice']}")
        if report.get("data_report"):
            d = report["data_report"]
            self.stdout.write(f"Held-out products: {d['test_items']}; bought before by the customer "
                              f"{d['bought_before_share']:.1%}; never seen in training {d['never_seen_share']:.1%}")
