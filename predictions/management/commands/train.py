"""python manage.py train --task purchase|churn --horizon DAYS [--as-of DATE] [--algorithms ...] [--json]"""

from accounts.management.base import ShopCommand
from predictions.services.training import ALGORITHMS, DEFAULT_ALGORITHMS, model_train_recorded, parse_algorithms

from ._args import iso_date, positive_int


class Command(ShopCommand):
    help = "Train churn or purchase models, register them, and promote a champion that beats the current one."

    def add_arguments(self, parser):
        parser.add_argument("--task", choices=["purchase", "churn"], required=True)
        parser.add_argument("--horizon", type=positive_int, help="days (default: the shop's setting)")
        parser.add_argument("--as-of", type=iso_date, help="train on data up to this date (default: the last order)")
        parser.add_argument("--algorithms", default=",".join(DEFAULT_ALGORITHMS),
                            help=f"comma-separated, from {','.join(ALGORITHMS)}")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        outcome = model_train_recorded(shop=shop, task=options["task"], horizon_days=options["horizon"],
                                       as_of=options["as_of"], algorithms=parse_algorithms(options["algorithms"]),
                                       progress=self.progress)
        report = outcome.to_dict()
        if options["json"]:
            self.print_json(report)
            return
        s = report["sufficiency"]
        self.stdout.write(f"History: {s['customers']} customers, {s['buyers']} buyers, {s['repeat_buyers']} repeat "
                          f"buyers, {s['history_days']} days (horizon {s['horizon_days']}).")
        for message in s["messages"]:
            self.stdout.write(f"  {message}")
        self.stdout.write(f"{'algorithm':<12}{'ROC AUC':>9}{'PR AUC':>9}{'Brier':>8}{'lift@10%':>10}  status")
        for name, info in report["models"].items():
            m = info["metrics"] or {}
            self.stdout.write(f"{name:<12}{_f(m.get('roc_auc')):>9}{_f(m.get('pr_auc')):>9}{_f(m.get('brier')):>8}"
                              f"{_f(m.get('lift_top_decile')):>10}  {info['status']}")
        for name, error in report["errors"].items():  # the history's reasons already say "not trained"
            self.stdout.write(f"{name:<12} {error if error.startswith('not trained') else f'not trained: {error}'}")
        if report["promoted"] and report["validation_ranked"]:
            self.stdout.write(f"Validation chose {report['champion']}: promoted to champion.")
        elif report["promoted"]:  # (it said "Validation chose" where no window had ranked anything)
            self.stdout.write(f"No validation window could rank the models (too little history, or one outcome "
                              f"only): {report['champion']}, picked by how well it fits the history, is promoted to "
                              "champion.")
        elif not report["validation_ranked"]:
            self.stdout.write(f"No model could be ranked on the validation window (it holds one outcome only): "
                              f"the current champion {report['champion']} stays.")
        else:
            self.stdout.write(f"No model of this run beat the current champion {report['champion']}, which stays.")


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"
