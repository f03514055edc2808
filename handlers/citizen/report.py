"""A report as the citizen writes it (the draft), what the review shows of it, and
filing it: the tip stored once (a replayed submission changes nothing) and routed."""

from __future__ import annotations

import secrets
import uuid

from pydantic import BaseModel, Field

from handlers.core.context import FlowContext
from handlers.core.events import Event, Media, Msg
from handlers.core.text import clean_for_storage, is_blank
from handlers.domain import receipts, taxonomy
from handlers.domain.places import Gazetteer
from storage.models import NewAttachment, NewTip


def new_tag() -> str:
    return "".join(secrets.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(6))


class ReportDraft(BaseModel):
    """A tip being written."""

    tag: str = Field(default_factory=new_tag)  # its buttons carry it: older ones are stale
    # Identifies this submission (a replay files nothing twice) without naming who.
    submission_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
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

    def has_place(self) -> bool:
        return bool(
            self.ward_code or self.address or self.latitude is not None or self.location_unknown
        )

    def clear_place(self) -> None:
        self.ward_code = self.address = self.location_label = None
        self.latitude = self.longitude = None
        self.location_unknown = False

    def add_file(self, media: Media, caption: str | None) -> None:
        """Keep a file (by reference) and its caption as part of the description."""
        self.attachments.append(
            NewAttachment(
                kind=media.kind,
                channel=media.store,
                file_ref=media.file_ref,
                file_unique_id=media.file_unique_id,
                file_size=media.size,
                mime_type=media.mime_type,
                media_group=media.group,
                too_large=media.too_large,
            )
        )
        if caption and not is_blank(caption):
            self.add_text(clean_for_storage(caption))

    def add_text(self, text: str) -> None:
        self.description = f"{self.description}\n\n{text}" if self.description else text

    def missing(self) -> list[str]:
        """The parts a tip cannot be sent without, in the order they are asked."""
        return [
            part
            for part, ok in (
                ("category", self.category),
                ("place", self.has_place()),
                ("when", self.occurred),
                ("description", self.description or self.attachments),
            )
            if not ok
        ]


def place_msg(draft: ReportDraft, places: Gazetteer) -> Msg:
    if draft.latitude is not None and draft.longitude is not None:
        return Msg(
            "place.gps",
            {
                "lat": f"{draft.latitude:.5f}",
                "lon": f"{draft.longitude:.5f}",
                "label": draft.location_label or "",
            },
        )
    if draft.ward_code:
        place = places.get(draft.ward_code)
        name = place.name if place else str(draft.ward_code)
        if draft.address:
            return Msg("place.ward_address", {"ward": name, "address": draft.address})
        return Msg("place.ward", {"ward": name})
    if draft.address:
        return Msg("place.address", {"address": draft.address})
    return Msg("place.unknown")


def when_msg(draft: ReportDraft) -> Msg:
    if draft.occurred == "text":
        return Msg("when.text", {"text": draft.occurred_text or ""})
    return Msg(f"when.{draft.occurred or 'now'}")


async def file_tip(
    draft: ReportDraft, event: Event, locale: str, ctx: FlowContext
) -> tuple[str, str]:
    """Store the tip and route it; returns its code and the receipt (shown once)."""
    category = taxonomy.BY_ID[draft.category or "other"]
    code = receipts.new_code()
    receipt, receipt_hash = await ctx.minter.take(draft.tag)
    tip_id = str(uuid.uuid4())
    urgent = bool(draft.urgent)
    added = await ctx.tips.add_tip(
        NewTip(
            id=tip_id,
            code=code,
            receipt_hash=receipt_hash,
            submission_key=draft.submission_id,
            channel=event.channel,
            locale=locale,
            category_group=category.group.value,
            category=category.id,
            urgent=urgent,
            province_code=ctx.places.province_code if draft.ward_code else None,
            ward_code=draft.ward_code,
            address_text=draft.address,
            latitude=draft.latitude,
            longitude=draft.longitude,
            location_label=draft.location_label,
            occurred=draft.occurred or "now",
            occurred_text=draft.occurred_text,
            description=draft.description,
            contact_phone=draft.contact_phone,
            created_at=ctx.now,
            attachments=draft.attachments,
        )
    )
    if added:  # a replayed submission was routed the first time
        await ctx.routing.route_tip(
            tip_id,
            ward_code=draft.ward_code,
            category=category.id,
            urgent=urgent,
            now=ctx.now,
            claim_within=ctx.limits.claim_urgent_within if urgent else ctx.limits.claim_within,
        )
        # The only link between the tip and this chat, for relaying officers' questions
        # while the tip is open and young; afterwards the relay is pull-only.
        await ctx.relay.open_followup(
            tip_id,
            channel=event.channel,
            chat_key=event.user_key,
            address=ctx.seal(event.address),
            locale=locale,
            expires_at=ctx.now + ctx.limits.followup,
        )
    return code, receipts.format_receipt(receipt)
