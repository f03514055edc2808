"""Conversation state and the typed draft, persisted by the pipeline after every event."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from storage.models import NewAttachment


class State(StrEnum):
    """Flow states. Values are persisted: never rename one, add new ones instead."""

    MENU = "menu"
    GROUP = "report.group"
    CATEGORY = "report.category"
    URGENT = "report.urgent"
    WHERE = "report.where"
    WARD_PICK = "report.ward_pick"
    WHEN = "report.when"
    DESCRIBE = "report.describe"
    CONTACT = "report.contact"
    REVIEW = "report.review"
    CHECK_CODE = "check.code"
    CHECK_RECEIPT = "check.receipt"
    REPLY = "citizen.reply"  # typing an answer to an officer's question
    STAFF_ASK = "staff.ask"  # an officer typing a question for a tipster
    STAFF_NOTE = "staff.note"  # an officer typing an internal note
    SUB_CONSENT = "sub.consent"  # awareness messages: consent, topic, ward
    SUB_TOPIC = "sub.topic"
    SUB_WARD = "sub.ward"
    ERASE_CONFIRM = "erase.confirm"  # "delete my data", asked once more
    CAMPAIGN_TEXT = "campaign.text"  # an admin composing a broadcast
    CAMPAIGN_AUDIENCE = "campaign.audience"
    CAMPAIGN_WARDS = "campaign.wards"  # typed ward names narrow the audience
    CAMPAIGN_SCHEDULE = "campaign.schedule"


REPORT_STATES = frozenset(s for s in State if s.value.startswith("report."))


def new_tag() -> str:
    return "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(6))


class Draft(BaseModel):
    """A tip being written, or the code typed during a status check."""

    tag: str = Field(default_factory=new_tag)
    group: str | None = None
    category: str | None = None
    urgent: bool | None = None
    ward_code: int | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_label: str | None = None
    location_unknown: bool = False
    ward_matches: list[int] = []
    typed_place: str | None = None
    occurred: str | None = None
    occurred_text: str | None = None
    description: str = ""
    attachments: list[NewAttachment] = []
    albums_seen: list[str] = []
    contact_phone: str | None = None
    contact_set: bool = False
    editing: bool = False
    check_code: str | None = None
    target_tip: str | None = None  # the tip code a reply, question or note is about
    sub_topic: str | None = None  # subscription being set up
    campaign_id: int | None = None  # broadcast being composed

    def has_place(self) -> bool:
        return bool(
            self.ward_code or self.address or self.latitude is not None or self.location_unknown
        )


class Flood(BaseModel):
    tokens: float | None = None
    at: datetime | None = None
    warned: bool = False
    failed_checks: list[datetime] = []


class Conversation(BaseModel):
    state: State = State.MENU
    locale: str | None = None
    draft: Draft | None = None
    flood: Flood = Field(default_factory=Flood)
    expires_at: datetime | None = None
    # Set by "delete my data": the pipeline deletes this conversation instead of saving it.
    forget: bool = Field(default=False, exclude=True)

    @classmethod
    def restore(
        cls,
        state: str,
        locale: str | None,
        draft: dict[str, Any] | None,
        flood: dict[str, Any] | None,
        expires_at: datetime | None,
    ) -> Conversation:
        """Rebuild from stored columns; an unknown state (from a newer deploy) resets."""
        try:
            parsed = State(state)
        except ValueError:
            return cls(locale=locale)
        return cls(
            state=parsed,
            locale=locale,
            draft=Draft.model_validate(draft) if draft else None,
            flood=Flood.model_validate(flood) if flood else Flood(),
            expires_at=expires_at,
        )

    def reset(self) -> None:
        self.state = State.MENU
        self.draft = None
        self.expires_at = None
