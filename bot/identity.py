"""Pseudonyms and sealed addresses: the database never holds platform user ids in clear.

`user_key` = HMAC(secret, channel:user id) identifies a citizen across messages without
revealing who they are. The chat address needed to reply is encrypted (Fernet) with a
key derived from the same secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from storage.vault import Vault, VaultError, is_sealed

ADDRESS = "address"  # associated data: a chat address, wherever it is kept


class Identity:
    def __init__(self, secret: bytes) -> None:
        self._mac_key = hashlib.sha256(b"tipbot/pseudonym\x00" + secret).digest()
        # Addresses are sealed like all content (AES-GCM with a key id, so rotation can
        # tell keys apart); Fernet only opens addresses sealed before that.
        self._vault = Vault(secret)
        fernet_key = hashlib.sha256(b"tipbot/seal\x00" + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(fernet_key))
        # Every event and every outgoing message seals or unseals an address; a citizen's
        # address is the same each time, so remember recent results (memory holds these
        # addresses anyway while their messages are handled).
        self._sealed: dict[str, bytes] = {}
        self._unsealed: dict[bytes, str] = {}

    def pseudonym(self, channel: str, platform_id: str | int) -> str:
        """Stable, non-reversible key for a platform identity."""
        message = f"{channel}:{platform_id}".encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()[:40]

    def seal(self, address: str) -> bytes:
        sealed = self._sealed.get(address)
        if sealed is None:
            sealed = self._vault.seal(address, ADDRESS).encode()
            _remember(self._sealed, address, sealed)
        return sealed

    def unseal(self, sealed: bytes) -> str | None:
        address = self._unsealed.get(sealed)
        if address is None:
            try:
                if is_sealed(text := sealed.decode("ascii", "replace")):
                    address = self._vault.open(text, ADDRESS)
                else:
                    address = self._fernet.decrypt(sealed).decode()
            except (InvalidToken, VaultError):
                return None  # sealed under another key: the message cannot be delivered
            _remember(self._unsealed, sealed, address)
        return address


def _remember(cache: dict[Any, Any], key: Any, value: Any, limit: int = 50_000) -> None:
    if len(cache) >= limit:
        cache.clear()  # crude but bounded; a miss only costs one Fernet operation
    cache[key] = value
