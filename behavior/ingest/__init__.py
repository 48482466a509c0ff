"""CSV ingestion: one streaming parser (`formats`), two writers (`postgres` COPY, `generic` ORM), and
the services that run an ImportJob batch by batch (`services`)."""
