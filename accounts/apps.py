from django.apps import AppConfig
from django.db.models.signals import post_migrate


def roles_ensure(sender, using="default", **kwargs) -> None:
    """The role groups and their permissions exist after every migrate — and after every flush,
    which empties them (the 0002_roles migration created them once; this keeps them)."""
    if getattr(sender, "name", None) != "accounts":
        return  # post_migrate is sent once per app; auth's permissions exist by accounts' turn
    from django.contrib.auth.models import Group, Permission

    from .migrations import _roles

    for role, codenames in _roles.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        perms = list(Permission.objects.using(using).filter(content_type__app_label="accounts",
                                                            codename__in=codenames))
        if role == "admin":
            for app_label, codename in _roles.ADMIN_MODEL_PERMISSIONS:
                perms += list(Permission.objects.using(using).filter(content_type__app_label=app_label,
                                                                     codename=codename))
        group.permissions.add(*perms)


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # After auth's own post_migrate handler, which creates the permissions this needs.
        post_migrate.connect(roles_ensure, dispatch_uid="accounts.roles_ensure")
        # Token-cache invalidation listens for role / grant / token changes in every process
        # (web, workers, commands), not only in those that served an API call.
        from . import tokens  # noqa: F401
