"""python manage.py offer_policy_evaluate --policy always:OFFER_ID|model|logged [--reward conversion|net_revenue]
[--json]"""

from accounts.management.base import ShopCommand
from offers.services import offer_policy_evaluate

from .offer_policy_train import _estimates_table


class Command(ShopCommand):
    help = ("Estimate off-policy (IPS, SNIPS, doubly robust, 95 % bootstrap intervals) what a policy would have "
            "earned on the logged assignments.")

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="always:OFFER_ID, model or logged")
        parser.add_argument("--reward", choices=["conversion", "net_revenue"], default="conversion")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        report = offer_policy_evaluate(shop=shop, policy=options["policy"], reward=options["reward"])
        if options["json"]:
            self.print_json(report)
            return
        self.stdout.write(f"Policy {report['policy']}, reward {report['reward']}:")
        self.stdout.write(_estimates_table(report))
        self.stdout.write(report["verdict"])
