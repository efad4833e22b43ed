"""Use cases: one transaction each. Called by the HTTP layer and the CLI."""
