"""`create_user NAME --role ROLE [--shop SLUG ...]`: create a user, or update an existing one."""

import getpass
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, Shop
from accounts.selectors import shop_get
from accounts.services import user_create_or_update
from ecomsight.errors import UserError

PASSWORD_ENV = "ECOMSIGHT_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a user with a role (marketer, analyst, admin) and the shops they may see, or update an "
        f"existing one. The password comes from --password, else ${PASSWORD_ENV}, else a prompt."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--shop",
            dest="shops",
            action="append",
            metavar="SLUG",
            help="a shop the user may see (repeat for several; default: the only shop, if there is one)",
        )
        parser.add_argument("--password", help=f"the password (prefer ${PASSWORD_ENV}: arguments show in `ps`)")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, shops, password, email, **options):
        try:
            existing = get_user_model().objects.filter(username=username).exists()
            shop_objects = self._shops(shops, existing=existing)
            password = password or os.environ.get(PASSWORD_ENV) or self._prompt_password()
            user = user_create_or_update(
                username=username, role=role, password=password, shops=shop_objects, email=email
            )
        except UserError as exc:
            raise CommandError(exc.message) from None

        granted = ", ".join(user.shops.values_list("slug", flat=True)) or "none (grant one with --shop SLUG)"
        verb = "Updated" if existing else "Created"
        self.stdout.write(f"{verb} user '{user.get_username()}': role {role}, shops: {granted}.")

    def _shops(self, slugs: list[str] | None, *, existing: bool) -> list[Shop] | None:
        if slugs:
            return [shop_get(slug=slug) for slug in dict.fromkeys(slugs)]
        if existing:
            return None  # re-running without --shop keeps the grants the user has
        only = list(Shop.objects.all()[:2])
        return only if len(only) == 1 else []

    def _prompt_password(self) -> str:
        try:
            first = getpass.getpass("Password: ")
            second = getpass.getpass("Password (again): ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError(f"No password given: use --password or ${PASSWORD_ENV}.") from None
        if first != second:
            raise CommandError("The two passwords differ.")
        if not first:
            raise CommandError("The password may not be empty.")
        return first
