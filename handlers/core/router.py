"""Entry point of the channel-neutral flows: flood control, expiry, then the flow that
owns what arrived — found in the registry's tables, never by name.

- a button press goes to the flow that owns its action;
- a command goes to the flow that owns the command (or gets "unknown command");
- anything else goes to the flow that owns the conversation's state; where that flow
  takes typed choices, a typed button label or number first becomes a press.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from handlers.core import callbacks
from handlers.core.context import FlowContext, Limits
from handlers.core.conversation import MENU, Conversation
from handlers.core.events import Choice, Event, EventKind, Msg, Outgoing, Reply, Toast
from handlers.core.i18n import Catalog
from handlers.core.registry import Registry
from handlers.core.text import fold, is_blank


def flood_check(conv: Conversation, now: datetime, limits: Limits) -> str:
    """Token bucket per citizen: "ok", "warn" (answer once) or "drop" (stay silent)."""
    flood = conv.flood
    tokens = float(limits.flood_burst) if flood.tokens is None else flood.tokens
    if flood.at is not None:
        elapsed = max(0.0, (now - flood.at).total_seconds())
        tokens = min(float(limits.flood_burst), tokens + elapsed * limits.flood_rate_per_second)
    flood.at = now
    if tokens >= 1.0:
        flood.tokens = tokens - 1.0
        if flood.tokens >= 1.0:
            flood.warned = False
        return "ok"
    flood.tokens = tokens
    if flood.warned:
        return "drop"
    flood.warned = True
    return "warn"


def expire(conv: Conversation) -> list[Outgoing]:
    """End a draft left alone too long."""
    conv.reset()
    return [Reply.of(Msg("report.expired"))]


def match_typed(text: str, reply: Reply, catalog: Catalog) -> str | None:
    """Map a typed answer (a button's label in any locale, or its number) to its data."""
    choices: list[Choice] = reply.flat_choices()
    if not choices:
        return None
    typed = fold(text)
    if typed.isdigit() and 1 <= int(typed) <= len(choices):
        return choices[int(typed) - 1].data
    for choice in choices:
        if choice.label.params:
            labels = [catalog.text(locale, choice.label) for locale in catalog.messages]
        else:
            labels = catalog.labels(choice.label.key)
        if any(fold(label) == typed for label in labels):
            return choice.data
    return None


class Router:
    """Routes one event for one conversation; the caller persists the conversation."""

    def __init__(self, catalog: Catalog, registry: Registry) -> None:
        self.catalog = catalog
        self.registry = registry

    @property
    def restore(self) -> Callable[..., Conversation]:
        """Rebuild a stored conversation (see `Registry.restore`)."""
        return self.registry.restore

    def prompt(self, conv: Conversation, ctx: FlowContext) -> Reply:
        return self.registry.prompt(conv, ctx)

    def _bind(self, ctx: FlowContext) -> FlowContext:
        return dataclasses.replace(ctx, prompt=lambda conv: self.registry.prompt(conv, ctx))

    async def handle(self, conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
        out: list[Outgoing] = []
        if event.kind in (EventKind.BLOCKED, EventKind.UNBLOCKED):
            return out  # reachability is recorded by the pipeline; nothing to say
        if conv.locale is None or (event.language_chosen and event.language):
            conv.locale = self.catalog.resolve_locale(event.language)

        verdict = flood_check(conv, ctx.now, ctx.limits)
        if verdict != "ok":
            return [Reply.of(Msg("flood.slow_down"))] if verdict == "warn" else []

        if event.callback_id:
            out.append(Toast(event.callback_id))  # stop the client's spinner promptly

        if conv.expires_at is not None and ctx.now >= conv.expires_at and conv.state != MENU:
            out += expire(conv)

        out += await self._route(conv, event, self._bind(ctx))
        answered = {o.callback_id for o in out if isinstance(o, Toast) and o.text is not None}
        if answered:  # one answer per button press: keep the one that says something
            out = [
                o
                for o in out
                if not (isinstance(o, Toast) and o.text is None and o.callback_id in answered)
            ]
        if conv.state == MENU:
            conv.expires_at = None
        else:
            conv.expires_at = ctx.now + ctx.limits.draft_ttl
        return out

    async def _route(self, conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
        tables = self.registry
        if event.kind is EventKind.COMMAND:
            on_command = tables.by_command.get(event.command or "")
            handled = await on_command(conv, event, ctx) if on_command else None
            if handled is not None:
                return handled
            return [Reply.of(Msg("hint.unknown_command")), ctx.prompt(conv)]

        flow = tables.flow_of(conv)
        if (
            flow.typed_choices
            and event.kind is EventKind.TEXT
            and event.text
            and not is_blank(event.text)
        ):
            typed = match_typed(event.text, ctx.prompt(conv), self.catalog)
            if typed is not None:
                event = dataclasses.replace(event, kind=EventKind.CHOICE, choice=typed)

        if event.kind is EventKind.CHOICE:
            cb = callbacks.parse(event.choice)
            on_choice = tables.by_action.get(cb.action) if cb is not None else None
            if cb is None or on_choice is None:
                return [Reply.of(Msg("hint.stale_button")), ctx.prompt(conv)]
            return await on_choice(conv, event, cb, ctx)

        if flow.on_input is not None:
            return await flow.on_input(conv, event, ctx)
        return await tables.home.on_input(conv, event, ctx)  # type: ignore[misc]

    async def handle_group(self, event: Event, ctx: FlowContext) -> list[Outgoing]:
        """Events from group chats: no conversation; only what a flow claims there."""
        on_group = self.registry.by_group.get(event.kind)
        if on_group is None:
            return []
        return await on_group(event, self._bind(ctx))
