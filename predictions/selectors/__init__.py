"""Reads of the predictions app, split by topic: `frames` (bulk reads for the models) and `scores`
(scores, at-risk list, dashboard figures and segments for pages and the API)."""
