"""Errors of the integrations package (they know nothing of HTTP).

DomainError (consent_svc.domain.errors)
├── VerificationFailed      the payload is not proven to come from the provider (-> 401):
│                           bad or missing signature, wrong key or credentials, stale
│                           timestamp, SNS topic not allowed, certificate URL off SNS
├── CertificateUnavailable  the SNS signing certificate could not be fetched now (-> 503,
│                           so SNS delivers again later)
└── InvalidInput            a verified payload that is not what the provider sends (-> 400)

A payload that verifies but holds events we cannot map is not an error: those
events come back as ``Ignored`` with a reason.
"""

from __future__ import annotations

from consent_svc.domain.errors import DomainError


class VerificationFailed(DomainError):
    title = "Verification failed"


class CertificateUnavailable(DomainError):
    title = "Signing certificate unavailable"
