"""Signals of the behavior app: its writers tell the apps above it what changed, without importing them."""

from django.dispatch import Signal

# Sent by the batch writer (behavior.ingest.postgres.batch_write: API batches and file imports) inside its
# transaction, after orders or events were stored or changed. Arguments: shop_id, customer_ids (a set of ints).
# predictions re-scores those customers (predictions.services.rescoring).
customers_changed = Signal()

# Sent once new data is stored and committed: when a file import job finishes (source "import") and after an API
# batch (source "api"). Arguments: shop_id, kind ("orders", "events", …), source. The forecasts app checks the
# shop's monitors for anomalies (debounced: forecasts.services.alerts).
data_arrived = Signal()

# Sent by the same writer inside its transaction after reviews were stored or changed (their analysis columns
# were cleared: `analyzed_at` is NULL). Arguments: shop_id. The reviews app scores them with the shop's saved
# sentiment model (reviews.services.reviews_changed_record).
reviews_changed = Signal()
