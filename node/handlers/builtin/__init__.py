"""The built-in handler types: watchlist, exec, webhook, spool and stix."""
