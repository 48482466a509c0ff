"""The base of every EcomSight command: `--shop SLUG` and clear errors instead of tracebacks."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Shop
from accounts.selectors import shop_get
from ecomsight.errors import UserError


class ShopCommand(BaseCommand):
    """Subclasses implement `handle_shop(shop, **options)`. `--shop` defaults to the only shop."""

    # Commands that may create the shop they are given (imports) set this.
    creates_shop = False

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--shop", metavar="SLUG", help="the shop to act on (default: the only one)")
        # An argument refused with --json given: the reason goes to stdout as {"error"} too, as the command's own
        # errors do (a script reading stdout got nothing, with exit status 2: an outside analyst).
        parse_args, error = parser.parse_args, parser.error
        wants_json = []

        def parse(args=None, namespace=None):
            wants_json[:] = ["--json" in (list(args) if args is not None else sys.argv[1:])]
            return parse_args(args, namespace)

        def refuse(message):
            if wants_json and wants_json[0]:
                print(json.dumps({"error": message}), flush=True)
            error(message)

        parser.parse_args, parser.error = parse, refuse
        return parser

    def handle(self, *args, **options):
        self.shop_created = False  # this command created the shop it acts on
        try:
            slug = options.get("shop")
            if self.creates_shop and slug and not Shop.objects.filter(slug=slug).exists():
                shop = Shop.objects.create(slug=slug, name=slug.replace("-", " ").title())
                self.shop_created = True
                others = list(Shop.objects.exclude(pk=shop.pk).order_by("slug").values_list("slug", flat=True)[:5])
                # said, so that a mistyped --shop is seen at once rather than as an empty shop later
                self.progress(f"created the shop '{slug}' (no shop had that name"
                              + (f"; the others: {', '.join(others)})" if others else ")"))
            elif self.creates_shop and not slug and not Shop.objects.exists():
                shop = Shop.objects.create(slug="default", name="Default shop")
                self.shop_created = True
                self.progress("created the shop 'default'")
            else:
                shop = shop_get(slug=slug)
            rest = {key: value for key, value in options.items() if key != "shop"}
            return self.handle_shop(shop, *args, **rest)
        except UserError as exc:
            if options.get("json"):  # a script reading stdout gets the reason too, beside the exit status 1
                self.print_json({"error": exc.message})
            raise CommandError(exc.message) from None

    def handle_shop(self, shop: Shop, *args, **options):
        """The command's work for `shop` (options hold everything but --shop)."""
        raise NotImplementedError

    def print_json(self, document) -> None:
        """One JSON document on stdout (the machine-readable contract of a command)."""
        self.stdout.write(json.dumps(document, default=str))

    def progress(self, message: str) -> None:
        """Progress for people goes to stderr, so stdout stays parseable."""
        print(message, file=sys.stderr, flush=True)
