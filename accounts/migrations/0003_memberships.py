"""Roles belong to a shop: a Membership (user, shop, role) replaces the global role groups.

Today's users keep, in each shop they were granted, the role their groups gave them (the strongest
one: admin > analyst > marketer). A grant without any role gave no access and is dropped. The role
groups are deleted, so no role holds across shops any more."""

from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion

ORDER = ("admin", "analyst", "marketer")


def grants_to_memberships(apps, schema_editor):
    Shop = apps.get_model("accounts", "Shop")
    Membership = apps.get_model("accounts", "Membership")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    through = Shop.members.through
    groups_of: dict[int, set[str]] = {}
    for user_id, name in User.groups.through.objects.filter(group__name__in=ORDER).values_list(
            "user_id", "group__name"):
        groups_of.setdefault(user_id, set()).add(name)
    rows = []
    for shop_id, user_id in through.objects.values_list("shop_id", "user_id"):
        role = next((r for r in ORDER if r in groups_of.get(user_id, ())), None)
        if role is not None:
            rows.append(Membership(shop_id=shop_id, user_id=user_id, role=role))
    Membership.objects.bulk_create(rows, batch_size=1000)
    # The role groups go: a group is global, and a global role is the flaw this migration removes.
    Group.objects.filter(name__in=ORDER).delete()


def memberships_to_grants(apps, schema_editor):
    Shop = apps.get_model("accounts", "Shop")
    Membership = apps.get_model("accounts", "Membership")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    through = Shop.members.through
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ORDER}
    best: dict[int, str] = {}
    for membership in Membership.objects.all():
        through.objects.get_or_create(shop_id=membership.shop_id, user_id=membership.user_id)
        current = best.get(membership.user_id)
        if current is None or ORDER.index(membership.role) < ORDER.index(current):
            best[membership.user_id] = membership.role
    for user_id, role in best.items():
        User.groups.through.objects.get_or_create(user_id=user_id, group_id=groups[role].pk)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Membership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("role", models.CharField(choices=[("marketer", "Marketer"), ("analyst", "Analyst"),
                                                   ("admin", "Admin")], max_length=16)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("shop", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships",
                                           to="accounts.shop")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships",
                                           to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "ordering": ["shop", "user"],
                "indexes": [models.Index(fields=["user", "shop"], name="accounts_me_user_id_7627e9_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("shop", "user"), name="membership_one_per_user_and_shop"),
                    models.CheckConstraint(condition=models.Q(role__in=["marketer", "analyst", "admin"]),
                                           name="membership_role_known"),
                ],
            },
        ),
        migrations.RunPython(grants_to_memberships, memberships_to_grants),
        migrations.RemoveField(model_name="shop", name="members"),
        migrations.AddField(
            model_name="shop",
            name="members",
            field=models.ManyToManyField(blank=True, related_name="shops", through="accounts.Membership",
                                         to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name="shop",
            name="event_retention_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
