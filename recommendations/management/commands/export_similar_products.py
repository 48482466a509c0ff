"""python manage.py export_similar_products --kind visual|also_bought|content --out FILE"""

from accounts.management.base import ShopCommand
from recommendations.services import similar_products_export


class Command(ShopCommand):
    help = ("Write a shop's similar products of one kind as CSV: product_id, similar_product_id, rank, score, kind. "
            "visual: from index_images (--scope overall or category); also_bought and content: from the active "
            "recommender build.")

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=["visual", "also_bought", "content"])
        parser.add_argument("--out", required=True, metavar="FILE")
        parser.add_argument("--scope", choices=["overall", "category"], default="overall",
                            help="visual only: neighbours among all products (default) or within the category")

    def handle_shop(self, shop, **options):
        rows = similar_products_export(shop=shop, kind=options["kind"], path=options["out"], scope=options["scope"])
        self.stdout.write(f"{rows} rows written to {options['out']}")
