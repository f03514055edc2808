"""Tip codes (shown to officers and the citizen) and receipt secrets (shown once).

The code is a short readable handle; the receipt is 16 random digits (≈53 bits), kept
only as an Argon2id hash. Checking a tip needs both, so guessing needs ≈93 bits.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Crockford-style alphabet without 0/O, 1/I/L, U: easy to read aloud and type.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
RECEIPT_DIGITS = 16


def new_code() -> str:
    """Return a random tip code such as "K7M4-QX9B"."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(text: str) -> str | None:
    """Normalise what a citizen typed into a code, or None if it cannot be one."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(raw) != CODE_LENGTH or any(ch not in _ALPHABET for ch in raw):
        return None
    return f"{raw[:4]}-{raw[4:]}"


def new_receipt() -> str:
    """Return a 16-digit receipt secret."""
    return "".join(secrets.choice("0123456789") for _ in range(RECEIPT_DIGITS))


def normalise_receipt(text: str) -> str | None:
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits if len(digits) == RECEIPT_DIGITS else None


def format_receipt(receipt: str) -> str:
    """Group digits in fours so the receipt reads like a card number."""
    return " ".join(receipt[i:i + 4] for i in range(0, len(receipt), 4))


class ReceiptHasher:
    """Argon2id hashing, run in a worker thread so the event loop keeps serving."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19_456) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=1)
        # Verifying against a dummy hash when a code does not exist keeps "unknown code"
        # and "wrong receipt" indistinguishable by timing.
        self._dummy = self._hasher.hash(new_receipt())

    async def hash(self, receipt: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, receipt)

    async def verify(self, stored: str | None, receipt: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, receipt) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)
