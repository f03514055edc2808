"""Plain data at the storage boundary (no SQL here; the queries live beside it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class NewAttachment(BaseModel):
    kind: str
    file_ref: str
    channel: str | None = None  # where the file is held, when not the tip's own channel
    file_unique_id: str | None = None
    file_size: int | None = None
    mime_type: str | None = None
    media_group: str | None = None
    too_large: bool = False


class NewTip(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    code: str
    receipt_hash: str
    submission_key: str
    channel: str
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


# ---- officer workflow ----------------------------------------------------------------
class Actor(BaseModel):
    """A staff member as read from the database for this one action."""

    id: str
    username: str
    role: str  # officer · admin


class Recipient(BaseModel):
    channel: str
    chat_key: str
    address: bytes  # sealed
    locale: str | None = None
    group: bool = False


class Unit(BaseModel):
    id: int
    name: str
    parent_id: int | None
    city_level: bool
    has_group: bool = False


class UnitOverview(BaseModel):
    """A unit as the admin desk lists it."""

    id: int
    name: str
    parent_id: int | None
    city_level: bool
    has_group: bool = False
    wards: list[int] = []
    categories: list[str] = []
    members: list[tuple[str, str, bool]] = []  # (user name, role in the unit, active)


class AttachmentRef(BaseModel):
    kind: str
    channel: str
    file_ref: str
    too_large: bool


class StaffFile(BaseModel):
    """A tip's attachment an officer may open (and the tip it belongs to, for the audit)."""

    code: str
    kind: str
    mime_type: str | None


class TipView(BaseModel):
    """A tip as shown to an officer allowed to see it."""

    id: str
    code: str
    category_group: str
    category: str
    urgent: bool
    ward_code: int | None
    address_text: str | None
    latitude: float | None
    longitude: float | None
    location_label: str | None
    occurred: str
    occurred_text: str | None
    description: str
    contact_phone: str | None  # only for members of a unit the tip is routed to
    channel: str
    status: str
    created_at: datetime
    claimed_by: str | None
    claimed_by_me: bool = False
    units: list[str] = []
    attachments: list[AttachmentRef] = []


class TipLine(BaseModel):
    id: str
    code: str
    category: str
    urgent: bool
    ward_code: int | None
    status: str
    created_at: datetime


class TipRef(BaseModel):
    """Enough about a tip to act on it and to tell its tipster."""

    id: str
    code: str
    status: str
    channel: str
    locale: str
    claimed_by: str | None


class ThreadEntry(BaseModel):
    at: datetime
    kind: str
    detail: str | None
    body: str | None
    who: str | None = None  # the staff account's user name (staff pages only)


class DeskLine(BaseModel):
    """A tip as a line of the desk's inbox."""

    id: str
    code: str
    category_group: str
    category: str
    urgent: bool
    ward_code: int | None
    status: str
    created_at: datetime
    claimed_by_name: str | None
    claim_due_at: datetime | None
    files: int
    answered: bool


class DeskFilter(BaseModel):
    """What the desk's inbox is narrowed to (every field optional)."""

    statuses: list[str] = []
    group: str | None = None
    category: str | None = None
    wards: list[int] = []
    unit_id: int | None = None
    urgent: bool = False
    unclaimed: bool = False
    overdue: bool = False
    since: datetime | None = None


class PendingAlert(BaseModel):
    id: int
    tip_id: str
    unit_id: int
    kind: str


class DueTip(BaseModel):
    id: str
    code: str
    urgent: bool
    escalation_level: int


class DigestRow(BaseModel):
    category_group: str
    category: str
    ward_code: int | None
    channel: str = ""
    status: str
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
