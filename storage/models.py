"""Plain data at the storage boundary (no SQL here; the queries live beside it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class NewAttachment(BaseModel):
    kind: str
    file_ref: str
    file_unique_id: str | None = None
    file_size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    media_group: str | None = None
    too_large: bool = False


class NewTip(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    code: str
    receipt_hash: str
    submission_key: str
    channel: str
    tipster_key: str
    locale: str
    category_group: str
    category: str
    urgent: bool
    province_code: int | None
    ward_code: int | None
    address_text: str | None
    latitude: float | None
    longitude: float | None
    location_label: str | None
    occurred: str
    occurred_text: str | None
    description: str
    contact_phone: str | None
    created_at: datetime
    attachments: list[NewAttachment] = []


class TipCheck(BaseModel):
    """What a citizen holding code + receipt may learn about a tip."""

    code: str
    receipt_hash: str
    status: str
    created_at: datetime
    updated_at: datetime


class TipSummary(BaseModel):
    """A tip as listed by the CLI: no description, no contact details."""

    code: str
    category_group: str
    category: str
    urgent: bool
    ward_code: int | None
    channel: str
    status: str
    created_at: datetime
    attachments: int


class StoredConversation(BaseModel):
    channel: str
    user_key: str
    address: bytes
    locale: str | None
    state: str
    draft: dict[str, Any] | None
    flood: dict[str, Any] | None
    updated_at: datetime
    expires_at: datetime | None


class InboxRow(BaseModel):
    id: int
    channel: str
    update_key: str
    payload: dict[str, Any] | None
    attempts: int


class OutboxMessage(BaseModel):
    """A message to be written to the outbox (payload is channel-neutral JSON)."""

    channel: str
    chat_key: str
    address: bytes
    payload: dict[str, Any]


class OutboxRow(OutboxMessage):
    id: int
    attempts: int
