"""Product pages: a product with its picture and look-alikes, and its picture (thumbnail or original) itself.

Pictures are served through the app (login, role and shop checked), not from a public media URL: a shop's
catalogue is not public here."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import role_required
from accounts.selectors import shop_for_request

from .models import ProductImage
from .selectors import product_page_detail


@require_GET
@role_required("marketer")
def product_image(request: HttpRequest, product_id: str, size: str) -> FileResponse:
    """The product's stored picture: `thumb` (JPEG, at most 256 px) or `full` (as fetched)."""
    shop = shop_for_request(request)
    row = (ProductImage.objects.filter(shop=shop, product__external_id=product_id, status=ProductImage.Status.STORED)
           .values("thumbnail", "path", "content_type").first())
    if row is None or size not in ("thumb", "full"):
        raise Http404("No picture for this product.")
    name = row["thumbnail"] if size == "thumb" else row["path"]
    try:
        handle = default_storage.open(name, "rb")
    except OSError:
        raise Http404("The picture's file is missing.") from None
    content_type = "image/jpeg" if size == "thumb" else (row["content_type"] or mimetypes.guess_type(name)[0])
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"  # named by its hash: a new picture is a new file
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@role_required("marketer")
def product_page(request: HttpRequest, product_id: str) -> HttpResponse:
    """One product: its picture, details, products that look like it (overall and in its category) and the
    products sharing its picture."""
    shop = shop_for_request(request)
    detail = product_page_detail(shop_id=shop.pk, external_id=product_id)
    if detail is None:
        raise Http404("No such product.")
    return render(request, "catalog/product.html", {"shop": shop, "d": detail})
