"""Project-wide API pieces: URL root, error format, pagination, authentication."""
