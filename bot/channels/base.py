"""What every channel adapter provides: parse inbound payloads, send outbound ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from handlers.core.events import Event

# Outbound payloads are channel-neutral JSON stored in the outbox:
#   {"t": "msg", "text": str, "buttons": [[{"label", "data", "request"}]], "kb": "inline"|"reply"}
#   {"t": "answer", "id": callback id, "text": str | None}
#   {"t": "leave"}   (leave a group chat the bot was added to)
Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ignored:
    """An inbound payload that is dropped by design (with the reason, for metrics)."""

    reason: str
    chat_key: str | None = None
    leave_address: str | None = None  # a group to leave


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Literal["ok", "retry", "blocked", "failed"]
    retry_after: float | None = None  # the platform said when to retry (HTTP 429)
    error: str = ""  # a short error class, never message content


class FileRefs(Protocol):
    """The platform's reference for a file we uploaded, by our stored copy's name —
    kept where every replica sees it (bot/delivery/filerefs.py)."""

    async def get(self, name: str) -> str | None: ...

    async def put(self, name: str, ref: str) -> None: ...


class MemoryFileRefs:
    """One process's references (tests, benchmarks, a channel without a database)."""

    def __init__(self, keep: int = 2000) -> None:
        self.keep = keep
        self.refs: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self.refs.get(name)

    async def put(self, name: str, ref: str) -> None:
        self.refs[name] = ref
        while len(self.refs) > self.keep:
            del self.refs[next(iter(self.refs))]


class Channel(Protocol):
    name: str

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        """Turn a stored raw payload into an event, or say why it is ignored."""
        ...

    async def send(self, address: str, payload: Payload) -> SendResult:
        """Deliver one outbound payload; never raise for platform errors."""
        ...

    def order_key(self, payload: dict[str, Any]) -> str | None:
        """Whose update this is (the pseudonym `parse` would give), read cheaply from
        the raw payload when it is stored: a person's updates are processed in order,
        one at a time, whichever replica takes them. None: no person (kept apart)."""
        ...


MAX_JSON_DEPTH = 32  # real updates nest about 6 deep


def read_json(body: bytes) -> Any:
    """Parse an inbound JSON body, or raise ValueError with a short reason: malformed,
    nested deeper than any real update (a recursion bomb), or carrying text that is
    not valid Unicode (a lone surrogate such as "\\ud800", which no database stores and
    no platform sends back)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError("nested too deep") from None
    except (UnicodeDecodeError, ValueError):
        raise ValueError("bad json") from None
    _check(data, 0)
    return data


def _check(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError("nested too deep")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("invalid text (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
