"""Background jobs: webhook delivery."""
