"""Sealing secrets the service must keep usable (provider API keys, signing keys) before they reach the database.

A sealed value is ``0x01 | key id (8 bytes) | nonce (12) | AES-256-GCM ciphertext``.
The associated data binds it to its row (the caller passes e.g. tenant and
integration id), so a sealed value copied into another row does not open.

Keys: ``CONSENT_ENCRYPTION_KEYS`` (comma separated, newest first: the first
seals, every one opens), and always, last, a key derived from the pepper
(HKDF-SHA256, its own label), which is what seals when no key is configured.
So a database dump or backup alone reveals no provider credential; it takes
the pepper (or the configured key) too. Each AES key is derived from its
configured key material with HKDF, never used as given; its id is a hash of
the derived key, so opening finds the right key without trying them all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consent_svc.config import Settings

_VERSION = b"\x01"
_INFO_CONFIGURED = b"consent-svc sealed secrets v1"
_INFO_PEPPER = b"consent-svc sealed secrets v1, from the pepper"


class SealError(Exception):
    """A sealed value that no key of this service opens (another pepper or key, or tampered with)."""


def _derive(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


class Sealer:
    def __init__(self, configured: Sequence[bytes], pepper: bytes) -> None:
        keys = [_derive(k, _INFO_CONFIGURED) for k in configured]
        if pepper:
            keys.append(_derive(pepper, _INFO_PEPPER))
        if not keys:
            raise ValueError("no key to seal with")
        self._keys = [(hashlib.sha256(b"key id" + k).digest()[:8], AESGCM(k)) for k in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        return cls([k.reveal() for k in settings.encryption_keys], settings.pepper.reveal())

    @property
    def current_key_id(self) -> bytes:
        return self._keys[0][0]

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        key_id, aead = self._keys[0]
        nonce = os.urandom(12)
        return _VERSION + key_id + nonce + aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        if len(sealed) < 1 + 8 + 12 + 16 or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        key_id, nonce, ciphertext = sealed[1:9], sealed[9:21], sealed[21:]
        for known, aead in self._keys:
            if known == key_id:
                try:
                    return aead.decrypt(nonce, ciphertext, associated)
                except InvalidTag:
                    break
        raise SealError("no key of this service opens the sealed value (another key or pepper, or tampered with)")

    def sealed_with_current(self, sealed: bytes) -> bool:
        return sealed[1:9] == self.current_key_id
