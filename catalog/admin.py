"""Admin pages for the catalogue."""

from django.contrib import admin

from .models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("path", "shop", "allow_rebuy")
    list_filter = ("shop",)
    search_fields = ("path",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("external_id", "title", "shop", "category", "price", "active", "is_stub")
    list_filter = ("shop", "active", "is_stub")
    search_fields = ("external_id", "title")
    raw_id_fields = ("category",)
