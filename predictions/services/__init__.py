"""Writes of the predictions app, split by topic: `training` (train, registry, champion), `scoring`
(batch scoring in idempotent chunks) and `backtesting`."""
