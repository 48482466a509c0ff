"""Signals of the behavior app: its writers tell the apps above it what changed, without importing them."""

from django.dispatch import Signal

# Sent by the batch writer (behavior.ingest.postgres.batch_write: API batches and file imports) inside its
# transaction, after orders or events were stored or changed. Arguments: shop_id, customer_ids (a set of ints).
# predictions re-scores those customers (predictions.services.rescoring).
customers_changed = Signal()
