"""Forms of the analyst's import pages: the upload (file and kind) and the column mapping."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

from behavior.ingest.formats import KINDS, SPECS
from behavior.ingest.values import in_cents

# Uploads above this are refused with a message (the import_data command has no limit).
DEFAULT_UPLOAD_MAX_BYTES = 200 * 1024 * 1024

KIND_LABELS = {
    "customers": "Customers",
    "products": "Products",
    "orders": "Orders",
    "order_lines": "Order lines",
    "events": "Events (views, carts, searches…)",
    "offers": "Offers",
    "offer_assignments": "Offer assignments (with propensities)",
    "reviews": "Reviews (stars and text)",
}

# Other names shops commonly give a field's column; the mapping step preselects them, the first one found winning
# (so "Kundennummer" before "Kunde", which often holds the customer's name).
SYNONYMS = {
    "customer_id": ("customer", "customerid", "client_id", "user_id", "userid", "buyer_id", "visitor_id", "id",
                    "client_ref", "customer_ref", "kundennummer", "kunden_id", "kunde"),
    "product_id": ("product", "productid", "sku", "variant_sku", "lineitem_sku", "handle", "item_id", "itemid",
                   "article_id", "stock_code", "id"),
    "order_id": ("order", "orderid", "order_number", "invoice", "invoice_id", "id", "bestellnummer"),
    "event_id": ("eventid", "message_id", "id"),  # messageId: Segment's
    "signup_at": ("signup", "signup_date", "created_at", "registered_at", "registration_date", "created"),
    "placed_at": ("order_date", "date", "created_at", "ordered_at", "timestamp", "datetime", "time", "invoice_date",
                  "order_purchase_timestamp", "purchase_date", "transaction_date", "transaction_dt", "purchase_ts",
                  "order_ts", "datum", "bestelldatum"),
    # a moment before a day: GA4 exports event_timestamp (microseconds) beside event_date (the day alone)
    "occurred_at": ("timestamp", "event_timestamp", "original_timestamp", "datetime", "time", "event_time",
                    "created_at", "received_at", "date", "event_date"),
    "type": ("event_type", "event", "event_name", "action", "kind"),  # event_name: GA4's
    "session_id": ("session", "sessionid", "visit_id"),
    # BigCommerce's "Order Total (inc tax)" before its "(ex tax)"; Magento's "Grand Total (Base)" is in the shop's
    # own currency, its "(Purchased)" in the customer's
    "total": ("amount", "order_total", "value", "revenue", "grand_total", "order_total_inc_tax",
              "order_total_incl_tax", "total_inc_tax", "total_incl_tax", "grand_total_base", "grand_total_purchased",
              "gesamtbetrag", "betrag", "summe"),
    "unit_price": ("price", "item_price", "lineitem_price"),
    "price": ("variant_price", "unit_price", "list_price"),
    "brand": ("vendor", "manufacturer", "brand_name"),
    "image_url": ("image_src", "image", "image_link", "picture_url"),
    "quantity": ("qty", "count", "units", "lineitem_quantity", "menge", "anzahl"),
    "item_count": ("items", "quantity", "qty", "n_items", "num_items", "number_of_items", "total_quantity",
                   "total_qty", "total_items", "total_item_count", "anzahl"),
    "title": ("name", "product_name", "review_title", "review_comment_title"),
    "category": ("category_path", "categories", "category_name", "product_category", "product_category_name"),
    "status": ("order_status", "financial_status", "state"),
    # The status's own moment first; a row's last change (a status history's rows, a snapshot's) after it.
    "status_changed_at": ("status_updated_at", "status_date", "status_changed", "refunded_at", "refund_date",
                          "cancelled_at", "canceled_at", "cancelled_date", "cancellation_date", "updated_at",
                          "date_modified", "modified_at", "last_modified"),
    "email": ("e_mail", "mail", "email_address"),
    "name": ("full_name", "customer_name"),
    "country": ("country_code", "default_address_country_code", "billing_country", "country_name"),
    "marketing_consent": ("accepts_email_marketing", "accepts_marketing", "email_marketing_consent", "opt_in",
                          "newsletter"),
    "active": ("is_active", "enabled", "available"),
    "properties": ("props", "attributes", "data"),
    "review_id": ("reviewid", "id"),
    "rating": ("stars", "star_rating", "score", "review_rating", "review_score", "bewertung", "评分", "星级"),
    "text": ("review", "review_text", "body", "content", "comment", "review_body", "review_comment_message",
             "kommentar", "评论", "评价", "内容"),
    "created_at": ("date", "review_date", "timestamp", "created", "review_creation_date"),
    "language": ("lang", "locale"),
}


def upload_max_bytes() -> int:
    """The upload size limit (settings.IMPORT_UPLOAD_MAX_BYTES, 200 MB by default)."""
    return int(getattr(settings, "IMPORT_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES))


def size_in_words(size: int) -> str:
    """200 MB, 1.5 GB, 12 KB: the sizes people read."""
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value >= 10 or value.is_integer() else f"{value:.1f} {unit}"
    return f"{size} bytes"


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(k, KIND_LABELS[k]) for k in KINDS], label="What the file holds",
        help_text="Import customers and products first: orders, order lines and events refer to them.")
    file = forms.FileField(label="CSV file", help_text="UTF-8 CSV with a header row.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = upload_max_bytes()
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {size_in_words(upload.size)}; uploads are limited to {size_in_words(limit)}. "
                "Split it into smaller files, or ask an administrator to import it with the import_data command.")
        if upload.size == 0:
            raise forms.ValidationError("The file is empty: expected a header row and data rows.")
        return upload


OPTION_SAMPLES = 3


def _option_label(column: str, values: list[str]) -> str:
    """A column as the select offers it: its name as written and its first values ("Preis: 19,99 · 5,00")."""
    if not values:
        return f"{column} (empty in the first rows)"
    shown = " · ".join(v if len(v) <= 24 else v[:23] + "…" for v in values[:OPTION_SAMPLES])
    return f"{column}: {shown}"


def column_name_normal(name: str) -> str:
    """A column name without case, spaces or punctuation: letters of every script stay (an ASCII-only rule made
    every Chinese header "" and so each other's match: 评分 was read as the review's text)."""
    return re.sub(r"[\W_]", "", name.lower())


def column_guess(field: str, header: tuple[str, ...] | list[str]) -> str:
    """The file's column that most obviously holds `field` ("" when none does)."""
    # the first of repeated names wins
    by_normal = {column_name_normal(h): h for h in reversed(header) if column_name_normal(h)}
    if field in header:
        return field
    exact = {h.lower(): h for h in reversed(header)}
    if field in exact:  # "Customer_ID" as written
        return exact[field]
    for candidate in (field, *SYNONYMS.get(field, ())):
        found = by_normal.get(column_name_normal(candidate))
        if found is not None:
            return found
    # A money column named with its currency ("amount_eur", "Betrag (EUR)", "revenue_usd") or in cents
    # ("total_cents", read as cents by the parser): the name without it.
    by_bare = {_MONEY_SUFFIX.sub("", n): h for n, h in by_normal.items() if _MONEY_SUFFIX.search(n)}
    by_bare.update({column_name_normal(_CENTS_WORDS.sub("", h)): h for h in reversed(header) if in_cents(h)})
    if field in _MONEY_FIELDS:
        for candidate in (field, *SYNONYMS.get(field, ())):
            found = by_bare.get(column_name_normal(candidate))
            if found is not None:
                return found
    return ""


_MONEY_FIELDS = ("total", "unit_price", "price")
_MONEY_SUFFIX = re.compile(r"(eur|usd|gbp|chf|sek|dkk|nok|pln|czk|huf|jpy|cad|aud|nzd|brl|inr|cny)$")
_CENTS_WORDS = re.compile(r"[\W_]+(in[\W_]+)?cents[\W_]*$", re.IGNORECASE)  # "total_cents" -> "total"


def kind_guess(header: tuple[str, ...] | list[str]) -> tuple[str | None, dict[str, int]]:
    """The kind of file whose columns `header` most obviously holds: the kind with the most fields found
    (column_guess) among those whose required fields are all found, and each kind's count of fields found."""
    found = {kind: [c for c in spec.columns if column_guess(c.name, header)] for kind, spec in SPECS.items()}
    counts = {kind: len(columns) for kind, columns in found.items()}
    complete = [kind for kind, spec in SPECS.items() if all(c in found[kind] for c in spec.columns if c.required)]
    best = max(complete, key=lambda kind: counts[kind], default=None)
    return best, counts


class ColumnMapForm(forms.Form):
    """One select per field of the kind, offering the file's columns; required fields must be mapped."""

    create_missing = forms.BooleanField(
        required=False, initial=True, label="Create customers and products that the file names but we do not know yet",
        help_text="Leave ticked unless the file must only refer to existing records.")
    dry_run = forms.BooleanField(required=False, label="Trial run: check every row, store nothing")

    def __init__(self, *args, kind: str, header: tuple[str, ...] | list[str],
                 samples: list[list[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.header = tuple(header)  # as written in the file
        options = [(h, _option_label(h, values)) for h, values in
                   zip(self.header, list(samples or []) + [[]] * len(self.header), strict=False)]
        self.field_names: list[str] = []
        used = set()
        for column in SPECS[kind].columns:
            guess = column_guess(column.name, self.header)
            # The same column is not preselected twice ("id" could be customer_id and order_id).
            if guess in used:
                guess = ""
            used.add(guess)
            choices = [("", "— required: choose a column —" if column.required else "— not in this file —")]
            choices += options
            name = f"map_{column.name}"
            self.fields[name] = forms.ChoiceField(choices=choices, required=column.required, initial=guess,
                                                  label=column.name)
            self.fields[name].is_required_field = column.required
            self.field_names.append(name)
        # The mapping selects come before the options.
        self.order_fields(self.field_names + ["create_missing", "dry_run"])

    def mapping_fields(self):
        return [self[name] for name in self.field_names]

    def column_map(self) -> dict[str, str]:
        """FIELD → COLUMN for the fields whose column is named differently (what the import service takes)."""
        mapping = {}
        for name in self.field_names:
            field = name.removeprefix("map_")
            column = self.cleaned_data.get(name) or ""
            if column and column != field:
                mapping[field] = column
        return mapping

    def mapped_fields(self) -> set[str]:
        return {name.removeprefix("map_") for name in self.field_names if self.cleaned_data.get(name)}

    def clean(self):
        cleaned = super().clean()
        # A field the file lacks must not be filled from a same-named column by the service's default match
        # (which ignores case: "Email" would fill email).
        written = {h.lower(): h for h in reversed(self.header)}
        for name in self.field_names:
            field = name.removeprefix("map_")
            if not cleaned.get(name) and field in written:
                self.add_error(name, f"The file has a column “{written[field]}”: choose it, or rename that column.")
        return cleaned
