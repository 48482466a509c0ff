"""Writes of the predictions app, split by topic: `training` (train, registry, champion), `scoring`
(batch scoring in idempotent chunks), `backtesting`, `segments` (save, rename, delete a segment; record an
export) and `exports` (an export's CSV rows, streamed or written to a file)."""
