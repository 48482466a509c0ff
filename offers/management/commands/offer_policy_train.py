"""python manage.py offer_policy_train [--reward conversion|net_revenue] [--algorithm linear|lightgbm] [--json]"""

from accounts.management.base import ShopCommand
from offers.services import offer_policy_train


class Command(ShopCommand):
    help = ("Fit an offer policy from the logged assignments; promote it only if its gain over the current "
            "policy is surely above zero (off-policy, on assignments it was not trained on).")

    def add_arguments(self, parser):
        parser.add_argument("--reward", choices=["conversion", "net_revenue"], default="conversion")
        parser.add_argument("--algorithm", choices=["linear", "lightgbm"], default="linear",
                            help="reward model per offer (default: logistic / ridge regression)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        outcome = offer_policy_train(shop=shop, reward=options["reward"], algorithm=options["algorithm"])
        report = outcome.report
        if options["json"]:
            self.print_json(report)
            return
        ev = report["evaluation"]
        self.stdout.write(f"Policy version {report['policy_version']} ({report['algorithm']}, reward "
                          f"{report['reward']}): trained on {report['n']} assignments "
                          f"({report['pending']} with open attribution windows left out).")
        self.stdout.write(_estimates_table(ev))
        for offer, single in report["single_offers"].items():
            if single["refused"]:
                self.stdout.write(f"  always {offer:<20} cannot tell: the logs rarely chose it")
            else:
                self.stdout.write(f"  always {offer:<20} {single['value']:.4g} [{single['low']:.4g}, "
                                  f"{single['high']:.4g}]")
        self.stdout.write(("Promoted: " if outcome.promoted else "Kept as candidate: ") + ev["verdict"])


def _estimates_table(ev: dict) -> str:
    lines = [f"{'estimator':<10}{'value':>12}{'low':>12}{'high':>12}   (n={ev['n']}, "
             f"effective sample size {ev['effective_sample_size']})"]
    for name, e in ev["estimates"].items():
        if e["value"] is None:
            lines.append(f"{name:<10}{'refused':>12}")
            continue
        lines.append(f"{name:<10}{e['value']:>12.4g}{e['low']:>12.4g}{e['high']:>12.4g}")
    return "\n".join(lines)
