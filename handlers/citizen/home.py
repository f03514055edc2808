"""The home flow: the welcome and main menu, the language, emergency numbers, and the
commands that work from anywhere (/start, /help, /menu, /cancel)."""

from __future__ import annotations

from handlers.citizen import intake, status, subscriptions
from handlers.core.callbacks import NO_DRAFT, Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import MENU, Conversation
from handlers.core.events import Choice, Event, EventKind, Msg, Outgoing, Reply
from handlers.core.i18n import LOCALES
from handlers.core.registry import Flow
from handlers.core.replies import not_for_this_step

MENU_ACTIONS = ("report", "check", "subscribe", "emergency", "language")
# Choosing a language is a step of its own, so that its choices can be typed (by
# number or name) where a platform has no buttons (Zalo). Persisted: never rename.
LANGUAGE = "home.language"


def _menu(*, welcome: bool) -> Reply:
    """The main menu, with the welcome text or just "what would you like to do?"."""
    rows = [[Choice(Msg(f"menu.{a}"), Callback(Action.MENU, a).encode())] for a in MENU_ACTIONS]
    return Reply.of(Msg("welcome" if welcome else "menu.ask"), choices=rows)


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


async def _on_menu(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    if cb.tag != NO_DRAFT:
        return [Reply.of(Msg("hint.stale_button")), ctx.prompt(conv)]
    return await menu_action(conv, cb.arg, ctx)


async def _on_language(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    if cb.tag != NO_DRAFT:
        return [Reply.of(Msg("hint.stale_button")), ctx.prompt(conv)]
    if cb.arg in LOCALES:
        conv.locale = cb.arg
    if conv.state == LANGUAGE:
        conv.reset()
    return [Reply.of(Msg("language.set")), ctx.prompt(conv)]


async def menu_action(conv: Conversation, action: str, ctx: FlowContext) -> list[Outgoing]:
    if action == "emergency":
        return [Reply.of(Msg("emergency.list")), ctx.prompt(conv)]
    if action == "language":
        return _choose_language(conv)
    if intake.in_progress(conv):
        # Never throw away a draft by accident: resume it instead.
        return intake.resume(conv, ctx)
    if action == "report":
        return intake.start(conv, ctx)
    if action == "check":
        return status.start(conv)
    if action == "subscribe":
        return subscriptions.start(conv)
    return [_menu(welcome=True)]


async def _start(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    if intake.in_progress(conv):
        return intake.resume(conv, ctx)
    if conv.state != MENU:
        conv.reset()
    return [_menu(welcome=True)]


async def _cancel(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    had_draft = conv.state != MENU
    conv.reset()
    return [
        Reply.of(Msg("report.cancelled" if had_draft else "nothing_to_cancel")),
        _menu(welcome=False),
    ]


def _choose_language(conv: Conversation) -> list[Outgoing]:
    if conv.state == MENU:  # in the middle of a report, the choice stays a side question
        conv.state = LANGUAGE
    return [language_choice()]


async def _language(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    return _choose_language(conv)


async def _emergency(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    return [Reply.of(Msg("emergency.list")), ctx.prompt(conv)]


async def _on_input(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    if conv.state == LANGUAGE:  # anything but a language: the question is dropped
        conv.reset()
    unreadable = not_for_this_step(conv, event, ctx)
    if unreadable is not None:
        return unreadable
    if event.kind is EventKind.MEDIA:
        # A photo as the very first message: keep it and start a report around it.
        intake.start(conv, ctx)
        return await intake.on_input(conv, event, ctx)
    if event.kind is EventKind.TEXT and await ctx.staff.actor(event.channel, event.user_key):
        # Staff typing outside a prompt want their own commands, not the citizen welcome
        # (the menu stays a /start away, for an officer who has something to report).
        return [Reply.of(Msg("officer.menu"))]
    return [_menu(welcome=True)]


FLOW = Flow(
    name="home",
    states={
        MENU: lambda conv, ctx: _menu(welcome=False),
        LANGUAGE: lambda conv, ctx: language_choice(),
    },
    actions={Action.MENU: _on_menu, Action.LANG: _on_language},
    commands={
        "start": _start,
        "help": _start,
        "menu": _start,
        "cancel": _cancel,
        "language": _language,
        "emergency": _emergency,
        "sos": _emergency,
    },
    on_input=_on_input,
    typed_choices=True,
)
