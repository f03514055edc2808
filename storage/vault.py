"""Content encryption at rest: every tip text, note, relayed message, draft, queued
message and raw inbound payload is sealed before it is inserted, so a copy of the
database (and of its WAL, taken while the service runs) holds none of them in clear.

A sealed value is text: `s1.<key id>.<base64url(nonce ‖ AES-256-GCM ciphertext)>`.
The associated data names the table, the column and the row the value belongs to, so
a value copied into another row or column does not open. The key id lets
`tipbot rotate-key` find what an older key sealed. A value without the prefix was
written before sealing existed; it is read as it is and sealed by the next rotation or
`Vault.reseal` pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "s1."


class VaultError(Exception):
    """A sealed value that does not open: wrong key, or moved to another row."""


def content_key(secret: bytes) -> bytes:
    return hashlib.sha256(b"tipbot/content\x00" + secret).digest()


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"tipbot/kid\x00" + key).hexdigest()[:8]


class Vault:
    """Seals and opens values with the current key; opens with older keys too."""

    def __init__(self, secret: bytes, *older: bytes) -> None:
        keys = [content_key(s) for s in (secret, *older)]
        self.kid = key_id(keys[0])
        self._current = AESGCM(keys[0])
        self._keys = {key_id(k): AESGCM(k) for k in keys}

    def seal(self, text: str, ad: str) -> str:
        nonce = _nonces.take()
        sealed = self._current.encrypt(nonce, text.encode("utf-8", "surrogatepass"), ad.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{self.kid}.{body}"

    def open(self, value: str, ad: str) -> str:
        if not is_sealed(value):
            return value  # written before sealing existed
        _, kid, body = value.split(".", 2)
        aead = self._keys.get(kid)
        if aead is None:
            raise VaultError(f"sealed with an unknown key {kid}")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return aead.decrypt(raw[:12], raw[12:], ad.encode()).decode("utf-8", "surrogatepass")
        except InvalidTag as exc:
            raise VaultError("sealed value does not open here") from exc

    def seal_opt(self, text: str | None, ad: str) -> str | None:
        return None if text is None else self.seal(text, ad)

    def open_opt(self, value: str | None, ad: str) -> str | None:
        return None if value is None else self.open(value, ad)

    def seal_json(self, value: Any, ad: str) -> str:
        return self.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")), ad)

    def open_json(self, value: Any, ad: str) -> Any:
        """A JSON column's value: sealed text, or (written before sealing) the object."""
        if isinstance(value, str) and is_sealed(value):
            return json.loads(self.open(value, ad))
        return value

    def is_current(self, value: str | None) -> bool:
        return value is None or value.startswith(f"{PREFIX}{self.kid}.")


class _Nonces:
    """Random 96-bit nonces from the OS, read 512 at a time.

    Each `os.urandom` call releases the GIL, and on a busy process getting it back can
    take milliseconds: one call per sealed value was 5 % of intake's event loop. The
    nonces stay random (AES-GCM's limit on random nonces is about 2^32 per key); a
    nonce is never handed out twice (a lock between threads, a fresh buffer after fork).
    """

    SIZE = 12

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self) -> bytes:
        with self._lock:
            if self._at + self.SIZE > len(self._buffer):
                self._buffer = os.urandom(self.SIZE * 512)
                self._at = 0
            nonce = self._buffer[self._at : self._at + self.SIZE]
            self._at += self.SIZE
            return nonce


_nonces = _Nonces()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)
