"""python manage.py backtest --task purchase|churn --cutoff DATE --horizon DAYS [--truth truth.csv] [--json]"""

from accounts.management.base import ShopCommand
from predictions.services.backtesting import model_backtest

from ._args import iso_date, positive_int


class Command(ShopCommand):
    help = "Train as of a past cutoff and evaluate every algorithm on what really happened after it."

    def add_arguments(self, parser):
        parser.add_argument("--task", choices=["purchase", "churn"], required=True)
        parser.add_argument("--cutoff", type=iso_date, required=True)
        parser.add_argument("--horizon", type=positive_int, required=True, help="days")
        parser.add_argument("--truth", help="the simulator's truth.csv: adds the oracle row")
        parser.add_argument("--algorithms", help="comma-separated (default: all)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        report = model_backtest(shop=shop, task=options["task"], cutoff=options["cutoff"],
                                horizon_days=options["horizon"], truth_path=options["truth"],
                                algorithms=options["algorithms"], progress=self.progress)
        one = _one_outcome(report)
        if options["json"]:
            if one:
                self.progress(one)  # stderr: the document keeps its keys
            self.print_json(report)
            return
        s = report["sufficiency"]
        self.stdout.write(f"Backtest {report['task']} at {report['cutoff']} + {report['horizon_days']} days: "
                          f"{report['customers']} customers, base rate {report['base_rate']:.3f}")
        self.stdout.write(f"History: {s['customers']} customers, {s['buyers']} buyers, {s['history_days']} days.")
        for message in s["messages"]:
            self.stdout.write(f"  {message}")
        self.stdout.write(f"{'algorithm':<12}{'ROC AUC':>9}{'PR AUC':>9}{'Brier':>8}{'log loss':>10}{'lift@10%':>10}")
        for name, m in report["algorithms"].items():
            self.stdout.write(f"{name:<12}{_f(m['roc_auc']):>9}{_f(m['pr_auc']):>9}{_f(m['brier']):>8}"
                              f"{_f(m['log_loss']):>10}{_f(m['lift_top_decile']):>10}")
        # what the history ruled out is named (its reasons are the lines above), other failures with their error
        refused = [name for name, error in report["errors"].items() if error.startswith("not trained")]
        if refused:
            self.stdout.write(f"Not trained (the history's reasons above): {', '.join(refused)}.")
        for name, error in report["errors"].items():
            if name not in refused:
                self.stdout.write(f"{name:<12} failed: {error}")
        if one:
            self.stdout.write(one)
        u = report["uncertainty"]
        if u["roc_auc_95"]:
            yes, no = ("bought", "did not buy") if report["task"] == "purchase" else ("left", "stayed")
            low, high = u["roc_auc_95"]
            self.stdout.write(f"Test window: {u['positives']} {yes}, {u['negatives']} {no}; the champion's ROC AUC "
                              f"{u['champion_roc_auc']:.3f}, 95 % interval {low:.3f}-{high:.3f}.")
        if u["note"]:
            self.stdout.write(u["note"])
        if report["validation_ranked"]:
            self.stdout.write(f"Validation chose: {report['champion']}")
        else:
            self.stdout.write(f"No validation window could rank the models (too little history, or one outcome "
                              f"only): {report['champion']} was picked by how well it fits the history.")


def _one_outcome(report: dict) -> str:
    """What a test window of one outcome means (empty otherwise): no ranking can be measured on it."""
    rate = report["base_rate"]
    if rate not in (0.0, 1.0):
        return ""
    what = {("purchase", 1.0): "every customer bought", ("purchase", 0.0): "nobody bought",
            ("churn", 1.0): "every customer left", ("churn", 0.0): "nobody left"}[(report["task"], rate)]
    return (f"The test window holds one outcome only ({what}): ROC and PR AUC cannot be measured on it, and the "
            "champion is not judged by it. Choose another cutoff or horizon.")


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"
