"""Web chat sessions: who a request comes from, without an account.

A session id is random, dated and signed with the service's key, so only this server
(or a replica sharing the key) can have issued it: a cookie a client makes up is
refused (session fixation; dodging the new-session limit), and a session ends on the
server after SESSION_DAYS whatever the browser keeps. A new session proves some work
before it may send (a signed challenge), and every changing request carries a CSRF
token derived from the session. What replicas share is named by HMACs of the session
(its mailbox, its inbox keys), never by the id itself, which is a working login.

Kept apart from the HTTP handlers so these rules read, and are tested, on their own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from typing import Any

SESSION_DAYS = 7  # a web chat session ends on the server after this
VERIFIED_KEEP = 100_000  # sessions remembered as having solved the challenge
MAX_LENGTH = 128  # longer cookies are not even parsed


class Sessions:
    def __init__(self, key: bytes, *, pow_bits: int, keep: int = VERIFIED_KEEP) -> None:
        self._key = key
        self.pow_bits = pow_bits
        self.keep = keep
        # Sessions that solved the challenge, and the language each page is in (both
        # bounded, the least recently used forgotten first: they solve or ask again).
        self.verified: OrderedDict[str, None] = OrderedDict()
        self.langs: OrderedDict[str, str] = OrderedDict()

    # ---- ids -------------------------------------------------------------------------
    def new(self) -> str:
        body = f"{secrets.token_urlsafe(24)}.{int(time.time()):x}"
        return f"{body}.{self.sign(body)}"

    def sign(self, body: str) -> str:
        mac = hmac.new(self._key, b"sid:" + body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")

    def issued_here(self, session: str) -> bool:
        parts = session.split(".")
        if len(session) > MAX_LENGTH or len(parts) != 3 or len(parts[0]) != 32:
            return False
        if not parts[1].isalnum():
            return False
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2], self.sign(body)):
            return False
        try:
            issued = int(parts[1], 16)
        except ValueError:
            return False
        return 0 <= time.time() - issued <= SESSION_DAYS * 86400

    # ---- request checks --------------------------------------------------------------
    def csrf(self, session: str) -> str:
        return hmac.new(self._key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, session: str, token: str) -> bool:
        return hmac.compare_digest(token, self.csrf(session))

    def challenge(self, session: str) -> dict[str, Any]:
        nonce = secrets.token_hex(16)
        return {"nonce": nonce, "sig": self._challenge_sig(session, nonce), "bits": self.pow_bits}

    def solved(self, session: str, nonce: str, sig: str, answer: str) -> bool:
        """The answer is to a challenge this server gave this session, and right."""
        return hmac.compare_digest(sig, self._challenge_sig(session, nonce)) and _solves(
            nonce, answer, self.pow_bits
        )

    def _challenge_sig(self, session: str, nonce: str) -> str:
        return hmac.new(self._key, f"pow:{session}:{nonce}".encode(), hashlib.sha256).hexdigest()

    # ---- what the process remembers of a session ------------------------------------
    def mark_verified(self, session: str) -> None:
        self.verified[session] = None
        while len(self.verified) > self.keep:
            self.verified.popitem(last=False)

    def is_verified(self, session: str) -> bool:
        return session in self.verified

    def page_lang(self, session: str, lang: str) -> bool:
        """Remember the language the session's page is in; True when it changed."""
        switched = self.langs.get(session, lang) != lang
        self.langs[session] = lang
        self.langs.move_to_end(session)
        while len(self.langs) > self.keep:
            self.langs.popitem(last=False)
        return switched

    def lang(self, session: str) -> str | None:
        return self.langs.get(session)

    # ---- names derived from a session (shared between replicas) ---------------------
    def box(self, session: str) -> str:
        """A session's mailbox name: what replicas share instead of the session id."""
        return hmac.new(self._key, b"box:" + session.encode(), hashlib.sha256).hexdigest()[:40]

    def inbox_prefix(self, session: str) -> str:
        """Scopes a client's request ids to its session in the inbox's dedup key, without
        writing any of the session id (a working login) into the database."""
        return hmac.new(self._key, b"inbox:" + session.encode(), hashlib.sha256).hexdigest()[:16]


def _solves(nonce: str, answer: str, bits: int) -> bool:
    if not answer.isdigit() or len(answer) > 12:
        return False
    digest = hashlib.sha256(f"{nonce}:{answer}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0 if bits else True
