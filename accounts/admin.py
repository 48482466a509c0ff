"""Admin pages for shops, memberships, jobs, API tokens and the audit log.

Tenancy holds here as everywhere: a staff user who is not a superuser is an admin of one shop or more
(their memberships say which) and sees and changes only those shops, their jobs, tokens, audit entries
and memberships. In their shops they invite a user (by username), change a member's role and remove a
member — each change written to the audit log by accounts.services. They never see the user list, never
set a password, an email, the staff or superuser flags, nor anything of another shop: only superusers
touch accounts as a whole. Nothing here reads Django's groups or model permissions for shop admins.

Token secrets are never stored (only a hash), so tokens cannot be created here; the audit log is
read-only, so the admin site cannot rewrite history."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from ecomsight.errors import UserError

from .models import ApiToken, AuditLog, Job, Membership, Role, Shop
from .selectors import admin_shop_ids
from .services import membership_remove, membership_set
from .tokens import api_token_revoke


class ShopScopedAdmin(admin.ModelAdmin):
    """Rows of the shops the user administers only (superusers see every shop). The permissions come from
    the memberships, not from Django's model permissions."""

    shop_field = "shop_id"
    # What a shop admin may do with rows of their shops (superusers: anything Django's permissions allow).
    shop_admin_may = frozenset({"view"})

    def _shop_ids(self, request) -> list[int]:
        cached = getattr(request, "_ecomsight_admin_shops", None)
        if cached is None:
            cached = admin_shop_ids(user=request.user)
            request._ecomsight_admin_shops = cached
        return cached

    def _may(self, request, action: str, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if action not in self.shop_admin_may or not request.user.is_active:
            return False
        shops = self._shop_ids(request)
        if obj is None:
            return bool(shops)
        return getattr(obj, self.shop_field) in shops

    def has_module_permission(self, request):
        return self._may(request, "view")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view", obj)

    def has_add_permission(self, request):
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, "delete", obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.shop_field}__in": self._shop_ids(request)})

    def get_list_filter(self, request):
        # The "shop" filter would list every tenant's slug.
        filters = super().get_list_filter(request)
        return filters if request.user.is_superuser else [f for f in filters if f != "shop"]


@admin.register(Shop)
class ShopAdmin(ShopScopedAdmin):
    shop_field = "pk"
    shop_admin_may = frozenset({"view", "change"})
    list_display = ["slug", "name", "currency", "horizon_days", "churn_lookback_days", "event_retention_days",
                    "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    exclude = ["members"]  # memberships have their own page (each change audited)

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["slug"]

    def get_prepopulated_fields(self, request, obj=None):
        # A read-only slug cannot be prepopulated (a shop admin's settings page answered 500: KeyError 'slug').
        return self.prepopulated_fields if request.user.is_superuser else {}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:  # retention deletes events: who changed what is in the app's audit log
            AuditLog.objects.create(shop=obj, user=request.user, action="shop.settings", target=obj.slug,
                                    details={name: str(form.cleaned_data.get(name)) for name in form.changed_data})

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class MembershipForm(forms.ModelForm):
    """Invite by username (a shop admin never gets a list of every user), or change the role."""

    username = forms.CharField(max_length=150, help_text="The user's exact username (a superuser creates "
                                                        "accounts: `python manage.py create_user`).")

    class Meta:
        model = Membership
        fields = ["shop", "role"]

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError("No active user with this username.")
        return user


@admin.register(Membership)
class MembershipAdmin(ShopScopedAdmin):
    shop_admin_may = frozenset({"view", "add", "change", "delete"})
    list_display = ["user", "shop", "role", "created_at"]
    list_filter = ["role", "shop"]
    list_select_related = ["user", "shop"]
    search_fields = ["user__username"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipForm
            kwargs["fields"] = ["username", "shop", "role"]
        else:
            kwargs["fields"] = ["role"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["username", "shop", "role"] if obj is None else ["user", "shop", "role"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "shop"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "shop" and not request.user.is_superuser:
            kwargs["queryset"] = Shop.objects.filter(pk__in=self._shop_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role":
            kwargs["choices"] = Role.choices
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        user = obj.user if change else form.cleaned_data["username"]
        if not (request.user.is_superuser or obj.shop_id in self._shop_ids(request)):
            raise UserError("You may only manage your own shops' members.")
        saved = membership_set(shop=obj.shop, user=user, role=obj.role, actor=request.user)
        obj.pk, obj.user, obj.created_at = saved.pk, saved.user, saved.created_at

    def delete_model(self, request, obj):
        membership_remove(shop=obj.shop, user=obj.user, actor=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("shop", "user"):
            self.delete_model(request, membership)


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
    # Read-only here, revocation by the action: a token's revocation and expiry are never edited back (clearing
    # "revoked at" brought a revoked token back to life, unaudited, in the outside review's replay).
    shop_admin_may = frozenset({"view", "change"})  # change: the revoke action
    list_display = ["name", "prefix", "user", "shop", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["shop"]
    list_select_related = ["user", "shop"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["key_hash"]
    readonly_fields = ["name", "prefix", "user", "shop", "created_at", "last_used_at", "expires_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # the secret is shown once at creation, which the admin form cannot do

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        # Through the service, so each revocation is audited like one made in the app.
        for token in queryset:
            api_token_revoke(token=token, actor=request.user)


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


class SuperuserOnlyUserAdmin(UserAdmin):
    """Accounts as a whole (passwords, emails, staff and superuser flags): superusers only. Shop admins
    manage memberships instead, and never reach this page, its password form or its list."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), SuperuserOnlyUserAdmin)
