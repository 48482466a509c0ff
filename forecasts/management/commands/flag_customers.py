"""python manage.py flag_customers [--json]"""

from accounts.management.base import ShopCommand
from forecasts.services.flags import customer_flags_refresh


class Command(ShopCommand):
    help = "Flag customers for refund abuse and bot-like sessions (replaces the shop's flags)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        flags = customer_flags_refresh(shop=shop)
        items = [{"customer_id": f.customer.external_id, "kind": f.kind, "reason": f.reason} for f in flags]
        if options["json"]:
            self.print_json({"flags": items})
            return
        self.stdout.write(f"{len(items)} customer(s) flagged")
        for item in items:
            self.stdout.write(f"  {item['customer_id']}: {item['kind']} — {item['reason']}")
