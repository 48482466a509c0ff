"""Admin pages for behaviour data: read-mostly views for support and debugging."""

from django.contrib import admin

from .models import Customer, Event, ImportJob, Order, OrderLine


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("external_id", "shop", "country", "signup_at", "is_stub")
    list_filter = ("shop", "is_stub")
    search_fields = ("external_id",)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("external_id", "shop", "customer", "placed_at", "total", "currency", "status")
    list_filter = ("shop", "status")
    search_fields = ("external_id", "customer__external_id")
    raw_id_fields = ("customer",)
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "shop", "customer", "type", "product")
    list_filter = ("shop", "type")
    search_fields = ("customer__external_id",)
    raw_id_fields = ("customer", "product")
    # The biggest table: never count it for the paginator.
    show_full_result_count = False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("created_at", "shop", "kind", "source_name", "status", "rows_read", "inserted", "updated",
                    "duplicates", "rejected")
    list_filter = ("shop", "kind", "status")
    readonly_fields = [f.name for f in ImportJob._meta.fields]
