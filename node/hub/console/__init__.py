"""The operator's web console of the hub (Starlette, rendered on the server)."""
