"""`create_token USER --name NAME [--shop SLUG] [--expires-days N]`: create an API token, print it once."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.management.base import ShopCommand
from accounts.tokens import api_token_create


class Command(ShopCommand):
    help = ("Create an API token for USER acting on the shop (--shop, default: the only one) with the user's role. "
            "The token is printed once: only its hash is stored.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what or who uses the token (e.g. 'crm sync')")
        parser.add_argument("--expires-days", type=int, default=None, help="expire after N days (default: never)")

    def handle_shop(self, shop, *args, username, name, expires_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user '{username}': create one with `create_user {username} --role ROLE`.")
        issued = api_token_create(user=user, shop=shop, name=name, expires_days=expires_days)
        self.progress(f"Token '{issued.token.name}' for {username} on shop '{shop.slug}' "
                      f"(prefix {issued.token.prefix}). Store it now: it is not shown again.")
        self.stdout.write(issued.plain)
