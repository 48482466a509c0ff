"""Admin pages for shops, jobs, API tokens and the audit log.

Token secrets are never stored (only a hash), so tokens cannot be created here; the audit log is
read-only, so the admin site cannot rewrite history.

Tenant isolation holds here too: a staff user who is not a superuser (the admin role) sees and
changes only the shops granted to them, and those shops' jobs, tokens and audit entries; among users,
only those of their shops (and users without any shop yet, so that a new colleague can be granted
one). They cannot grant superuser status or raw permissions: roles are the only lever."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet

from .models import ApiToken, AuditLog, Job, Role, Shop


def _visible_users(request) -> QuerySet:
    """The users a shop admin may see: members of their shops, and users not granted any shop yet."""
    User = get_user_model()
    shops = request.user.shops.all()
    return (User.objects.filter(Q(shops__in=shops) | Q(shops__isnull=True))
            .exclude(is_superuser=True).distinct())


class ShopScopedAdmin(admin.ModelAdmin):
    """Rows of the shops granted to the user only (superusers see every shop)."""

    shop_lookup = "shop__in"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.shop_lookup: request.user.shops.all()})

    def get_list_filter(self, request):
        # The "shop" filter would list every tenant's slug.
        filters = super().get_list_filter(request)
        return filters if request.user.is_superuser else [f for f in filters if f != "shop"]


@admin.register(Shop)
class ShopAdmin(ShopScopedAdmin):
    shop_lookup = "pk__in"
    list_display = ["slug", "name", "currency", "horizon_days", "churn_lookback_days", "created_at"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]
    prepopulated_fields = {"slug": ["name"]}

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members" and not request.user.is_superuser:
            kwargs["queryset"] = _visible_users(request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Job)
class JobAdmin(ShopScopedAdmin):
    list_display = ["id", "shop", "kind", "status", "progress_done", "progress_total", "created_by", "created_at"]
    list_filter = ["kind", "status", "shop"]
    list_select_related = ["shop", "created_by"]
    readonly_fields = [f.name for f in Job._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # jobs are started by the app, which also enqueues their task


@admin.register(ApiToken)
class ApiTokenAdmin(ShopScopedAdmin):
    list_display = ["name", "prefix", "user", "shop", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["shop"]
    list_select_related = ["user", "shop"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["key_hash"]
    readonly_fields = ["name", "prefix", "user", "shop", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # the secret is shown once at creation, which the admin form cannot do


@admin.register(AuditLog)
class AuditLogAdmin(ShopScopedAdmin):
    list_display = ["created_at", "action", "target", "user", "shop"]
    list_filter = ["action", "shop"]
    list_select_related = ["user", "shop"]
    search_fields = ["action", "target", "user__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ShopUserAdmin(UserAdmin):
    """Django's user admin, narrowed for shop admins: their shops' users, roles only, no superuser status."""

    _LIMITED_FIELDSETS = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "groups")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        if request.user.is_superuser:
            return super().get_queryset(request)
        return _visible_users(request)

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        return self._LIMITED_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ("last_login", "date_joined")

    def get_list_filter(self, request):
        return super().get_list_filter(request) if request.user.is_superuser else ("is_active", "groups")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=Role.values)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), ShopUserAdmin)
