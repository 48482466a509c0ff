"""python manage.py build_recommendations [--k 20] [--json]"""

from accounts.management.base import ShopCommand
from recommendations.services import recommendations_build


class Command(ShopCommand):
    help = "Build top-K recommendations for every customer and similar products for every product."

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=20, choices=range(1, 101), metavar="K",
                            help="recommendations per customer (1-100, default 20)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        outcome = recommendations_build(shop=shop, k=options["k"], progress=self.progress)
        if options["json"]:
            self.print_json(outcome.to_dict())
        else:
            self.stdout.write(f"{outcome.recommendations} recommendations for {outcome.customers} customers and "
                              f"{outcome.similar} similar products in {outcome.seconds:.1f} s.")
