"""CSV ingestion: the formats and one streaming parser (`formats`, with `rows`, `columns` and `values`), two
writers (`postgres` COPY, `generic` ORM), and the services that run an ImportJob batch by batch (`services`)."""
