"""In-memory implementations of the storage ports (`handlers/core/ports.py`), for flow
tests that call a flow directly (cosmicpython's fake repositories). They keep what a
flow wrote so a test can assert on it. A port a test did not expect to be used is
`Untouched`: any call fails the test, naming the port."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from storage.models import Actor, NewTip, Recipient, ThreadEntry, TipCheck, TipRef
from storage.subscriptions import Subscription, matches


class Untouched:
    """A port the flow under test must not use."""

    def __init__(self, port: str) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the flow used {self._port}.{name}, which this test did not expect")


@dataclass
class FakeTips:
    """TipIntake + Routing + Relay over dicts."""

    tips: dict[str, NewTip] = field(default_factory=dict)  # by submission key
    routed: list[tuple[str, int | None, str]] = field(default_factory=list)
    answers: list[tuple[str, str]] = field(default_factory=list)
    followups: dict[str, tuple[Recipient, datetime]] = field(default_factory=dict)
    thread: list[tuple[str, ThreadEntry]] = field(default_factory=list)

    async def add_tip(self, tip: NewTip) -> bool:
        if tip.submission_key in self.tips:
            return False
        self.tips[tip.submission_key] = tip
        return True

    async def tip_for_check(self, code: str) -> TipCheck | None:
        for tip in self.tips.values():
            if tip.code == code:
                return TipCheck(
                    code=tip.code,
                    receipt_hash=tip.receipt_hash,
                    status="new",
                    created_at=tip.created_at,
                    updated_at=tip.created_at,
                )
        return None

    async def route_tip(
        self,
        tip_id: str,
        *,
        ward_code: int | None,
        category: str,
        urgent: bool,
        now: datetime,
        claim_within: timedelta,
    ) -> list[int]:
        self.routed.append((tip_id, ward_code, category))
        return [1]

    async def open_followup(
        self,
        tip_id: str,
        *,
        channel: str,
        chat_key: str,
        address: bytes,
        locale: str | None,
        expires_at: datetime,
    ) -> None:
        self.followups[tip_id] = (
            Recipient(channel=channel, chat_key=chat_key, address=address, locale=locale),
            expires_at,
        )

    async def tipster(self, tip_id: str, now: datetime) -> Recipient | None:
        link = self.followups.get(tip_id)
        return link[0] if link and link[1] > now else None

    def _ref(self, tip: NewTip) -> TipRef:
        return TipRef(
            id=tip.id,
            code=tip.code,
            status="new",
            channel=tip.channel,
            locale=tip.locale,
            claimed_by=None,
        )

    async def tip_of_tipster(
        self, channel: str, chat_key: str, code: str, now: datetime
    ) -> TipRef | None:
        for tip in self.tips.values():
            link = self.followups.get(tip.id)
            if tip.code == code and link and link[1] > now and link[0].chat_key == chat_key:
                return self._ref(tip)
        return None

    async def tip_by_code(self, code: str) -> TipRef | None:
        found = [t for t in self.tips.values() if t.code == code]
        return self._ref(found[0]) if found else None

    async def questions(self, tip_id: str) -> list[ThreadEntry]:
        return [e for t, e in self.thread if t == tip_id]

    async def add_answer(
        self, tip_id: str, text: str, now: datetime, *, kind: str = "answer"
    ) -> None:
        self.answers.append((tip_id, text))
        self.thread.append((tip_id, ThreadEntry(at=now, kind=kind, detail=None, body=text)))

    async def tip_handlers(self, tip_id: str) -> list[Recipient]:
        return []


@dataclass
class FakeAudit:
    entries: list[dict[str, Any]] = field(default_factory=list)

    async def audit(
        self,
        now: datetime,
        action: str,
        outcome: str,
        *,
        staff_id: str | None = None,
        actor_key: str | None = None,
        tip_id: str | None = None,
        target: str | None = None,
    ) -> None:
        self.entries.append(
            {"action": action, "outcome": outcome, "staff_id": staff_id, "actor_key": actor_key}
        )


@dataclass
class FakeStaff:
    """StaffDirectory: accounts linked to chats, and one-time invites."""

    actors: dict[tuple[str, str], Actor] = field(default_factory=dict)
    invites: dict[str, str] = field(default_factory=dict)  # code → role

    async def actor(self, channel: str, user_key: str) -> Actor | None:
        return self.actors.get((channel, user_key))

    async def staff_chats(self, staff_ids: list[str]) -> list[Recipient]:
        return []

    async def redeem_invite(
        self,
        code: str,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str | None,
        now: datetime,
    ) -> Actor | None:
        role = self.invites.pop(code, None)
        if role is None:
            return None
        actor = Actor(id=secrets.token_hex(4), username=f"{role}-1", role=role)
        self.actors[(channel, user_key)] = actor
        return actor

    async def create_invite(self, **_: Any) -> str:
        raise AssertionError("not used by these tests")

    async def staff_list(self) -> list[tuple[str, str, bool, list[str]]]:
        return [(a.username, a.role, True, []) for a in self.actors.values()]

    async def deactivate(self, username: str) -> bool:
        return False


@dataclass
class FakeSubscriptions:
    subs: dict[tuple[str, str], Subscription] = field(default_factory=dict)
    consents: list[str] = field(default_factory=list)
    erased: list[tuple[str, str]] = field(default_factory=list)

    async def subscribe(
        self,
        *,
        channel: str,
        user_key: str,
        address: bytes,
        locale: str,
        wards: list[int],
        topics: list[str],
        consent_text: str,
        now: datetime,
    ) -> None:
        self.subs[(channel, user_key)] = Subscription(
            channel=channel,
            user_key=user_key,
            address=address,
            locale=locale,
            wards=wards,
            topics=topics,
        )
        self.consents.append(consent_text)

    async def unsubscribe(self, channel: str, user_key: str) -> bool:
        return self.subs.pop((channel, user_key), None) is not None

    async def erase(self, channel: str, user_key: str) -> None:
        await self.unsubscribe(channel, user_key)
        self.erased.append((channel, user_key))

    async def audience(self, wards: list[int], topics: list[str]) -> list[Subscription]:
        return [s for s in self.subs.values() if matches(s, wards, topics)]
