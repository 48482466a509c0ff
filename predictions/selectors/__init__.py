"""Reads of the predictions app, split by topic: `frames` (bulk reads for the models), `at_risk` (the current
run and the at-risk list), `segments`, `customers` (the customer page), `dashboard` (dashboard figures) and
`campaigns`."""
