"""Signals of the predictions app: it tells the apps above it what it did, without importing them."""

from django.dispatch import Signal

# Sent by the re-scoring of changed customers (predictions.services.rescoring.rescore_changed) after their new
# scores are committed. Arguments: shop_id, customer_ids (a list of ints). recommendations rebuilds those
# customers' lists (recommendations.services.recommendations_refresh).
customers_rescored = Signal()
