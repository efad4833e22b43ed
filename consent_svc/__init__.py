"""consent-svc: the one place that knows whether a tenant may contact a person."""

__version__ = "0.1.0"
