"""Answers every flow gives the same way."""

from __future__ import annotations

from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Event, EventKind, Msg, Outgoing, Reply


def hint(conv: Conversation, ctx: FlowContext, key: str, **params: str | int) -> list[Outgoing]:
    """Say what was wrong, then ask the current step's question again."""
    return [Reply.of(Msg(key, dict(params))), ctx.prompt(conv)]


def not_for_this_step(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    """An edited message or something no flow reads (a sticker, a poll…): say so and
    re-ask. None for anything else."""
    if event.kind is EventKind.EDITED:
        return hint(conv, ctx, "hint.edited")
    if event.kind is EventKind.UNSUPPORTED:
        if event.unsupported == "hidden":
            where = Msg("hint.hidden.web", {"url": event.text}) if event.text else ""
            return [Reply.of(Msg("hint.hidden", {"web": where})), ctx.prompt(conv)]
        if event.unsupported == "photo_failed":
            return hint(conv, ctx, "hint.photo_failed")
        if event.unsupported == "sticker":
            return hint(conv, ctx, "hint.sticker")
        return hint(conv, ctx, "hint.unsupported")
    return None


def ward_buttons(ctx: FlowContext, typed: str, action: Action, prefix: str) -> list[list[Choice]]:
    """One button per ward matching a typed name (a subscriber's ward, a campaign's)."""
    return [
        [Choice(Msg("btn.ward", {"name": p.name}), Callback(action, f"{prefix}{p.code}").encode())]
        for p in ctx.places.search(typed, limit=6)
    ]
