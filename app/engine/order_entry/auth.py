"""SC-* HMAC-V2 machine auth (CONTRACT §4.1) and how agent secrets are kept. Pure, no I/O.

The canonical string is these lines joined by "\\n":

    SENTICORE-HMAC-V2
    sc-key:<apiKeyId>
    sc-nonce:<nonce>
    sc-timestamp:<timestamp>
    method:<UPPERCASE METHOD>
    path:<url path as sent>
    query:<raw query items sorted as strings, joined by &>
    body-sha256:<hex sha256 of the raw body>

and `SC-Signature` is its hex HMAC-SHA256 keyed by `apiSecret`.

The server needs the secret itself to check a signature, so it keeps it encrypted (AES-GCM,
key derived from a persisted server secret); the passphrase is kept only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from base64 import b64decode, b64encode

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCOPES = ("read", "trade", "cancel", "drop_copy")
SKEW_MS = 30_000
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# hashlib releases the GIL while it hashes 2048 bytes or more at once; the event loop would then
# queue behind the stream writer thread to get it back (measured: a signed batch of 50, ~12 KB,
# spent ~9 % of the loop's wall time in its body hash). Fed in smaller pieces, it keeps the GIL.
_HASH_PIECE = 2047


def body_sha256(body: bytes) -> str:
    """hex sha256 of the raw body, hashed once, in pieces of the body itself (no copies)."""
    if len(body) <= _HASH_PIECE:
        return hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    h = hashlib.sha256()
    view = memoryview(body)
    for i in range(0, len(view), _HASH_PIECE):
        h.update(view[i : i + _HASH_PIECE])
    return h.hexdigest()


def canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    return "&".join(sorted(raw_query.split("&")))


def canonical_string(
    key: str, nonce: str, timestamp: str, method: str, path: str, raw_query: str, body: bytes
) -> str:
    body_hash = body_sha256(body)
    return "\n".join(
        (
            "SENTICORE-HMAC-V2",
            f"sc-key:{key}",
            f"sc-nonce:{nonce}",
            f"sc-timestamp:{timestamp}",
            f"method:{method.upper()}",
            f"path:{path}",
            f"query:{canonical_query(raw_query)}",
            f"body-sha256:{body_hash}",
        )
    )


def sign(secret: str, canonical: str) -> str:
    # not `hmac.digest`: its one-shot OpenSSL call releases the GIL, and the event loop then
    # queues behind the stream writer thread to get it back
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, canonical: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, canonical), signature.strip().lower())


def new_credentials() -> tuple[str, str, str]:
    """A fresh (apiKeyId, apiSecret, apiPassphrase) triple."""
    return (
        "spk_" + secrets.token_hex(12),
        "sps_" + secrets.token_urlsafe(32),
        "spp_" + secrets.token_urlsafe(16),
    )


def new_account() -> str:
    return "0x" + secrets.token_hex(20)


class SecretBox:
    """Encrypts agent secrets and hashes passphrases with keys derived from one server secret."""

    def __init__(self, server_secret: str) -> None:
        root = bytes.fromhex(server_secret) if len(server_secret) == 64 else server_secret.encode()
        self._aead = AESGCM(hashlib.sha256(b"oe-secret-enc|" + root).digest())
        self._mac_key = hashlib.sha256(b"oe-passphrase|" + root).digest()

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        return b64encode(nonce + self._aead.encrypt(nonce, plaintext.encode(), b"oe-agent")).decode()

    def decrypt(self, stored: str) -> str:
        raw = b64decode(stored)
        return self._aead.decrypt(raw[:12], raw[12:], b"oe-agent").decode()

    def hash_passphrase(self, passphrase: str) -> str:
        return hmac.new(self._mac_key, passphrase.encode(), hashlib.sha256).hexdigest()

    def passphrase_ok(self, stored_hash: str, passphrase: str) -> bool:
        return hmac.compare_digest(stored_hash, self.hash_passphrase(passphrase))
