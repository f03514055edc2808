"""What every channel adapter provides: parse inbound payloads, send outbound ones."""

from __future__ import annotations

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


class Channel(Protocol):
    name: str

    def parse(self, payload: dict[str, Any]) -> Event | Ignored:
        """Turn a stored raw payload into an event, or say why it is ignored."""
        ...

    async def send(self, address: str, payload: Payload) -> SendResult:
        """Deliver one outbound payload; never raise for platform errors."""
        ...
