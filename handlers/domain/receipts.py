"""Tip codes (shown to officers and the citizen) and receipt secrets (shown once).

The code is a short readable handle; the receipt is 16 random digits (≈53 bits), kept
only as an Argon2id hash. Checking a tip needs both, so guessing needs ≈93 bits.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from handlers.core.text import fold

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


_LABELS = frozenset({"code", "ma", "tin", "bao", "bi", "mat", "receipt", "secret", "tip"})


def code_and_receipt(text: str) -> tuple[str, str] | None:
    """Both secrets from one pasted text, in either order and any reasonable form: with
    dashes or spaces, lower case, a label in front ("CODE 7KQ2-M9XD 2110 9508 …"), or
    run together."""
    # Labels people paste along ("Mã tin báo:", "CODE") go as whole words: inside a code
    # "MA" is two of its characters (a code like "XMAB-…" lost them once).
    words = re.split(r"[^0-9a-z]+", fold(text))
    raw = "".join(w for w in words if w not in _LABELS).upper()
    if len(raw) != CODE_LENGTH + RECEIPT_DIGITS:
        return None
    for code_part, receipt_part in (
        (raw[:CODE_LENGTH], raw[CODE_LENGTH:]),
        (raw[RECEIPT_DIGITS:], raw[:RECEIPT_DIGITS]),
    ):
        code = normalise_code(code_part)
        if code is not None and receipt_part.isdigit():
            return code, receipt_part
    return None


def format_receipt(receipt: str) -> str:
    """Group digits in fours so the receipt reads like a card number."""
    return " ".join(receipt[i : i + 4] for i in range(0, len(receipt), 4))


class ReceiptHasher:
    """Argon2id hashing, run in a worker thread so the event loop keeps serving."""

    def __init__(self, time_cost: int = 1, memory_kib: int = 8192) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # Hashes have their own thread: on the shared default executor a burst of them
        # (reviews and sends arriving together) took every worker and slowed the event
        # loop's own work (issue 15's profile: 1.9x in those rounds).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        # Verifying against a dummy hash when a code does not exist keeps "unknown code"
        # and "wrong receipt" indistinguishable by timing.
        self._dummy = self._hasher.hash(new_receipt())

    async def hash(self, receipt: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hasher.hash, receipt)

    async def verify(self, stored: str | None, receipt: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, receipt) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.get_running_loop().run_in_executor(self._executor, check)


class ReceiptMinter:
    """Keeps a small stock of (receipt, hash) pairs, made ahead on a worker thread.

    The hash is slow on purpose; made at confirm time it would sit on the critical path
    of every submission. The stock lives in memory only: a receipt is never stored,
    and one that is never handed out dies with the process.
    """

    def __init__(self, hasher: ReceiptHasher, capacity: int = 256) -> None:
        self.hasher = hasher
        self.capacity = capacity
        self._stock: deque[tuple[str, str]] = deque()
        self._wanted = asyncio.Event()
        self._reserved: dict[str, asyncio.Future[tuple[str, str]]] = {}

    @property
    def stocked(self) -> int:
        """How many pairs are ready now (a benchmark waits for a full stock)."""
        return len(self._stock)

    def reserve(self, key: str) -> None:
        """Start hashing a pair for a draft that reached its review, so that pressing
        Send finds it ready (a person reads the review for seconds; the hash takes ms)."""
        if key in self._reserved:
            return
        if len(self._reserved) >= 10_000:  # drafts abandoned at the review: forget the oldest
            self._reserved.pop(next(iter(self._reserved)))
        if self._stock:  # a pair made ahead: no hashing at all now
            ready: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
            ready.set_result(self._stock.popleft())
            self._reserved[key] = ready
            self._wanted.set()  # the stock refills in the background
            return
        self._reserved[key] = asyncio.ensure_future(self._mint())

    async def take(self, key: str | None = None) -> tuple[str, str]:
        """Return a fresh (receipt, hash) pair: the draft's reserved one, else from stock."""
        reserved = self._reserved.pop(key, None) if key else None
        if reserved is not None:
            return await reserved
        self._wanted.set()
        if self._stock:
            return self._stock.popleft()
        return await self._mint()

    async def _mint(self) -> tuple[str, str]:
        receipt = new_receipt()
        return receipt, await self.hasher.hash(receipt)

    async def run(self) -> None:
        """Refill the stock whenever it runs low (a background task)."""
        while True:
            while len(self._stock) < self.capacity:
                self._stock.append(await self._mint())
            self._wanted.clear()
            await self._wanted.wait()
