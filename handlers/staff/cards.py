"""How a tip looks to staff: the alert card (facts, description, map pin, files) with
its action buttons, and tip lists. Shared by the desk flows and the alerter."""

from __future__ import annotations

from handlers.core.callbacks import Action
from handlers.core.events import Choice, File, Item, Msg, Pin, Reply
from handlers.core.staffing import cb as _cb
from handlers.core.staffing import ward_label
from handlers.core.text import for_staff
from handlers.domain import taxonomy
from handlers.domain.places import Gazetteer
from handlers.domain.vntime import local_time
from storage.access import OPEN
from storage.models import TipLine, TipView


def actions(code: str, *, claimable: bool = True) -> list[list[Choice]]:
    """The card's buttons: no "claim" on a tip already claimed or closed (a button for
    what is already so only earns a refusal)."""
    claim = [Choice(Msg("officer.btn.claim"), _cb(Action.CLAIM, code))] if claimable else []
    return [
        [*claim, Choice(Msg("officer.btn.status"), _cb(Action.STATUS_MENU, code))],
        [
            Choice(Msg("officer.btn.ask"), _cb(Action.ASK, code)),
            Choice(Msg("officer.btn.note"), _cb(Action.NOTE, code)),
        ],
        [
            Choice(Msg("officer.btn.transfer"), _cb(Action.TRANSFER_MENU, code)),
            Choice(Msg("officer.btn.thread"), _cb(Action.THREAD, code)),
        ],
    ]


def card(view: TipView, places: Gazetteer, *, title: str = "officer.card.new") -> list[Item]:
    """The alert: facts first, then the description (HTML-escaped by the renderer and
    split to fit), the map pin and the attachments re-sent by reference."""
    category = taxonomy.BY_ID.get(view.category)
    claim = (
        Msg("officer.claimed_by_me")
        if view.claimed_by_me
        else Msg("officer.claimed")
        if view.claimed_by
        else Msg("officer.unclaimed")
    )
    place: str | Msg = for_staff(view.address_text or view.location_label or "")
    parts = [
        Msg(
            title,
            {
                "code": view.code,
                "urgent": Msg("officer.urgent") if view.urgent else "",
                "group": Msg(f"group.{category.group.value}") if category else view.category,
                "category": Msg(f"cat.{view.category}") if category else view.category,
                "ward": ward_label(places, view.ward_code),
                "place": place,
                "time": local_time(view.created_at),
                "occurred": Msg("when.text", {"text": for_staff(view.occurred_text or "")})
                if view.occurred == "text"
                else Msg(f"when.{view.occurred}"),
                "status": Msg(f"status.{view.status}"),
                "claim": claim,
                "units": ", ".join(view.units),
                "files": len(view.attachments),
            },
        ),
        Msg("officer.description", {"text": for_staff(view.description)})
        if view.description
        else Msg("officer.no_description"),
    ]
    if view.contact_phone:
        parts.append(Msg("officer.contact", {"phone": view.contact_phone}))
    if any(a.kind != "photo" for a in view.attachments):
        # Files from the public are checked only by their first bytes: a document or
        # video may still carry an exploit, so say where (not) to open it.
        parts.append(Msg("officer.file_warning"))
    claimable = view.claimed_by is None and view.status in OPEN
    buttons = actions(view.code, claimable=claimable)
    items: list[Item] = [Reply.of(*parts, choices=buttons, html=True, protect=True)]
    if view.latitude is not None and view.longitude is not None:
        items.append(Pin(view.latitude, view.longitude))
    for attachment in view.attachments:
        if not attachment.too_large:
            items.append(File(attachment.kind, attachment.channel, attachment.file_ref))
    return items


def tip_lines(
    lines: list[TipLine], places: Gazetteer, empty: str, title: Msg | None = None
) -> Reply:
    if not lines:
        return Reply.of(Msg(empty))
    rows = [
        Msg(
            "officer.line",
            {
                "code": line.code,
                "urgent": Msg("officer.urgent") if line.urgent else "",
                "category": Msg(f"cat.{line.category}")
                if line.category in taxonomy.BY_ID
                else line.category,
                "ward": ward_label(places, line.ward_code),
                "status": Msg(f"status.{line.status}"),
                "time": local_time(line.created_at),
            },
        )
        for line in lines
    ]
    buttons = [
        [Choice(Msg("officer.btn.open", {"code": line.code}), _cb(Action.VIEW, line.code))]
        for line in lines[:10]
    ]
    head = title or Msg("officer.list", {"count": len(lines)})
    return Reply.of(head, *rows, choices=buttons)
