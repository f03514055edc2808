"""Entry point of the channel-neutral flows: flood control, expiry, global commands,
typed answers to buttons, then the flow that owns the current state."""

from __future__ import annotations

from datetime import datetime

from handlers import callbacks, campaigns, intake, officer, receipts, reports, status
from handlers.callbacks import Action, Callback
from handlers.context import FlowContext, Limits
from handlers.conversation import REPORT_STATES, Conversation, State
from handlers.events import Choice, Event, EventKind, Msg, Outgoing, Reply, Toast
from handlers.i18n import Catalog
from handlers.text import fold, is_blank

MENU_ACTIONS = ("report", "check", "subscribe", "emergency", "language")


def menu(conv: Conversation, *, welcome: bool = True) -> Reply:
    """The welcome text and the main menu."""
    rows = [[Choice(Msg(f"menu.{a}"), Callback(Action.MENU, a).encode())] for a in MENU_ACTIONS]
    return Reply.of(Msg("welcome" if welcome else "menu.ask"), choices=rows)


def current_prompt(conv: Conversation, ctx: FlowContext) -> Reply:
    if conv.state in REPORT_STATES and conv.draft is not None:
        return intake.prompt(conv, ctx)
    if conv.state in (State.CHECK_CODE, State.CHECK_RECEIPT):
        return status.prompt(conv)
    if conv.state in officer.STAFF_STATES:
        return officer.prompt(conv)
    if conv.state in campaigns.STATES:
        return campaigns.prompt(conv)
    if conv.state is State.REPLY:
        code = conv.draft.target_tip if conv.draft else ""
        return Reply.of(Msg("citizen.answer.prompt", {"code": code or ""}))
    return menu(conv, welcome=False)


def language_choice() -> Reply:
    return Reply.of(
        Msg("language.ask"),
        choices=[
            [
                Choice(Msg("language.vi"), Callback(Action.LANG, "vi").encode()),
                Choice(Msg("language.en"), Callback(Action.LANG, "en").encode()),
            ]
        ],
    )


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


def _match_typed(text: str, reply: Reply, catalog: Catalog) -> str | None:
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

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def handle(self, conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
        out: list[Outgoing] = []
        if event.kind in (EventKind.BLOCKED, EventKind.UNBLOCKED):
            return out  # reachability is recorded by the pipeline; nothing to say
        if conv.locale is None:
            conv.locale = self.catalog.resolve_locale(event.language)

        verdict = flood_check(conv, ctx.now, ctx.limits)
        if verdict != "ok":
            return [Reply.of(Msg("flood.slow_down"))] if verdict == "warn" else []

        if event.callback_id:
            out.append(Toast(event.callback_id))  # stop the client's spinner promptly

        if (
            conv.expires_at is not None
            and ctx.now >= conv.expires_at
            and conv.state is not State.MENU
        ):
            out += expire(conv)

        out += await self._route(conv, event, ctx)
        answered = {o.callback_id for o in out if isinstance(o, Toast) and o.text is not None}
        if answered:  # one answer per button press: keep the one that says something
            out = [
                o
                for o in out
                if not (isinstance(o, Toast) and o.text is None and o.callback_id in answered)
            ]
        if conv.state is State.MENU:
            conv.expires_at = None
        else:
            conv.expires_at = ctx.now + ctx.limits.draft_ttl
        return out

    async def _route(self, conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
        cb: Callback | None = None
        if event.kind is EventKind.CHOICE:
            cb = callbacks.parse(event.choice)
            if cb is not None and cb.action in officer.OFFICER_ACTIONS:
                return await officer.on_choice(conv, event, cb, ctx)
            if cb is not None and cb.action is Action.ANSWER:
                return await officer.on_answer_button(conv, event, cb, ctx)
            if cb is not None and cb.action in campaigns.ACTIONS:
                return await campaigns.on_choice(conv, event, cb, ctx)
            if cb is None or not self._fits(conv, cb):
                return [Reply.of(Msg("hint.stale_button")), current_prompt(conv, ctx)]
        elif event.kind is EventKind.COMMAND:
            handled = await officer.on_command(conv, event, ctx)
            if handled is None:
                handled = await campaigns.on_command(conv, event, ctx)
            if handled is None:
                handled = await reports.on_command(conv, event, ctx)
            return handled if handled is not None else await self._command(conv, event, ctx)
        elif conv.state in officer.STAFF_STATES:
            return await officer.on_text(conv, event, ctx)
        elif conv.state is State.REPLY:
            return await officer.on_answer_text(conv, event, ctx)
        elif conv.state in campaigns.STATES and event.kind in (EventKind.TEXT, EventKind.MEDIA):
            return await campaigns.on_text(conv, event, ctx)
        elif event.kind is EventKind.TEXT and event.text and not is_blank(event.text):
            typed = _match_typed(event.text, current_prompt(conv, ctx), self.catalog)
            cb = callbacks.parse(typed) if typed else None

        if cb is not None and cb.action is Action.LANG:
            conv.locale = cb.arg if cb.arg in self.catalog.messages else conv.locale
            return [Reply.of(Msg("language.set")), current_prompt(conv, ctx)]
        if cb is not None and cb.action is Action.MENU:
            return await self._menu_action(conv, cb.arg, ctx)

        if event.kind is EventKind.EDITED:
            return [Reply.of(Msg("hint.edited")), current_prompt(conv, ctx)]
        if event.kind is EventKind.UNSUPPORTED:
            return [Reply.of(Msg("hint.unsupported")), current_prompt(conv, ctx)]

        if conv.state in REPORT_STATES and conv.draft is not None:
            return await intake.on_event(conv, event, cb, ctx)
        if conv.state in (State.CHECK_CODE, State.CHECK_RECEIPT):
            if event.kind is EventKind.TEXT and event.text and not is_blank(event.text):
                return await status.on_text(conv, event.text, ctx)
            return [Reply.of(Msg("hint.type_text")), current_prompt(conv, ctx)]
        if event.kind is EventKind.MEDIA:
            # A photo as the very first message: keep it and start a report around it.
            intake.start(conv, ctx)
            return await intake.on_event(conv, event, None, ctx)
        return [menu(conv)]

    async def handle_group(self, event: Event, ctx: FlowContext) -> list[Outgoing]:
        """Events from group chats: only staff actions exist there (no conversation)."""
        return await officer.on_group(event, ctx)

    def _fits(self, conv: Conversation, cb: Callback) -> bool:
        """A pressed button must belong to the current draft (or be a menu button)."""
        if cb.action in (Action.MENU, Action.LANG):
            return cb.tag == callbacks.NO_DRAFT
        return (
            conv.draft is not None
            and cb.tag == conv.draft.tag
            and intake.accepts(conv.state, cb.action)
        )

    async def _menu_action(
        self, conv: Conversation, action: str, ctx: FlowContext
    ) -> list[Outgoing]:
        if action == "emergency":
            return [Reply.of(Msg("emergency.list")), current_prompt(conv, ctx)]
        if action == "language":
            return [language_choice()]
        if conv.state in REPORT_STATES and conv.draft is not None:
            # Never throw away a draft by accident: resume it instead.
            return [Reply.of(Msg("report.resume")), intake.prompt(conv, ctx)]
        if action == "report":
            return intake.start(conv, ctx)
        if action == "check":
            return status.start(conv)
        if action == "subscribe":
            return campaigns.start(conv)
        return [menu(conv)]

    async def _command(self, conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
        command = event.command or ""
        if command in ("start", "help", "menu"):
            if conv.state in REPORT_STATES and conv.draft is not None:
                return [Reply.of(Msg("report.resume")), intake.prompt(conv, ctx)]
            if conv.state is not State.MENU:
                conv.reset()
            return [menu(conv)]
        if command == "cancel":
            had_draft = conv.state is not State.MENU
            conv.reset()
            return [
                Reply.of(Msg("report.cancelled" if had_draft else "nothing_to_cancel")),
                menu(conv, welcome=False),
            ]
        if command == "language":
            return [language_choice()]
        if command in ("emergency", "sos"):
            return [Reply.of(Msg("emergency.list")), current_prompt(conv, ctx)]
        if command in ("report", "new"):
            return await self._menu_action(conv, "report", ctx)
        if command == "status":
            parts = event.args.split()
            if len(parts) >= 2:
                code = receipts.normalise_code(parts[0])
                receipt = receipts.normalise_receipt("".join(parts[1:]))
                if code and receipt:
                    return await status.check(conv, code, receipt, ctx)
            return await self._menu_action(conv, "check", ctx)
        return [Reply.of(Msg("hint.unknown_command")), current_prompt(conv, ctx)]
