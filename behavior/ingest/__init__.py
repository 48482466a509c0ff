"""CSV ingestion: the formats and one streaming parser (`formats`, with `rows`, `columns` and `values`),
the one writer (`postgres`: COPY into a staging table, then set-based SQL), and the services that run an
ImportJob batch by batch (`services`)."""
