"""Admin pages for offers: the per-shop settings and offers' eligibility are edited here; policies and
assignments are read-only records."""

from django.contrib import admin

from .models import Assignment, Offer, OfferSettings, PolicyVersion


@admin.register(OfferSettings)
class OfferSettingsAdmin(admin.ModelAdmin):
    list_display = ("shop", "attribution_days", "control_share", "epsilon")


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("external_id", "shop", "name", "kind", "value", "cost_per_redemption", "active")
    list_filter = ("shop", "kind", "active")
    search_fields = ("external_id", "name")


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "shop", "status", "reward", "algorithm", "trained_on", "created_at")
    list_filter = ("shop", "status")
    readonly_fields = ("params", "metrics", "features", "offers")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("external_id", "shop", "customer", "offer", "assigned_at", "propensity", "is_control", "channel")
    list_filter = ("shop", "channel", "is_control")
    search_fields = ("external_id", "customer__external_id")
    raw_id_fields = ("customer", "offer", "policy_version")
    date_hierarchy = "assigned_at"
