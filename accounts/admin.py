"""Admin pages for shops, jobs, API tokens and the audit log.

Token secrets are never stored (only a hash), so tokens cannot be created here; the audit log is
read-only, so the admin site cannot rewrite history."""

from django.contrib import admin

from .models import ApiToken, AuditLog, Job, Shop


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "currency", "horizon_days", "churn_lookback_days", "created_at"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["members"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "shop", "kind", "status", "progress_done", "progress_total", "created_by", "created_at"]
    list_filter = ["kind", "status", "shop"]
    list_select_related = ["shop", "created_by"]
    readonly_fields = [f.name for f in Job._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False  # jobs are started by the app, which also enqueues their task


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "shop", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["shop"]
    list_select_related = ["user", "shop"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["key_hash"]
    readonly_fields = ["name", "prefix", "user", "shop", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False  # the secret is shown once at creation, which the admin form cannot do


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
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
