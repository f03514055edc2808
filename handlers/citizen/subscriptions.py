"""Awareness messages, the citizen's side: opt in with explicit consent, choose a topic
and a ward, opt out with one tap or /stop."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Event, EventKind, Msg, Outgoing, Reply, Toast
from handlers.core.registry import Flow
from handlers.core.replies import not_for_this_step, ward_buttons

TOPICS = ("drugs", "fraud", "fire", "traffic")
CONSENT_KEY = "sub.consent"  # the text agreed to, stored with the time


class SubState(StrEnum):
    """Persisted values: never rename one."""

    CONSENT = "sub.consent"
    TOPIC = "sub.topic"
    WARD = "sub.ward"


class SubDraft(BaseModel):
    topic: str | None = None


def _cb(action: Action, arg: str = "") -> str:
    return Callback(action, arg).encode()


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    """Ask again for what the current state waits for."""
    if conv.state == SubState.CONSENT:
        yes_no = [
            Choice(Msg("sub.agree"), _cb(Action.SUBSCRIBE, "yes")),
            Choice(Msg("sub.decline"), _cb(Action.SUBSCRIBE, "no")),
        ]
        return Reply.of(Msg(CONSENT_KEY), choices=[yes_no])
    if conv.state == SubState.TOPIC:
        rows = [[Choice(Msg(f"topic.{t}"), _cb(Action.TOPIC, t))] for t in TOPICS]
        rows.append([Choice(Msg("topic.all"), _cb(Action.TOPIC, "all"))])
        return Reply.of(Msg("sub.topic.ask"), choices=rows)
    return Reply.of(
        Msg("sub.ward.ask"),
        choices=[[Choice(Msg("sub.ward.all"), _cb(Action.SUB_WARD, "all"))]],
    )


def start(conv: Conversation) -> list[Outgoing]:
    """Opting in starts with the consent text and an explicit "I agree"."""
    conv.start(SubState.CONSENT, SubDraft())
    return [prompt(conv)]


async def _subscribe_command(
    conv: Conversation, event: Event, ctx: FlowContext
) -> list[Outgoing] | None:
    return start(conv)


async def _on_choice(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    expected = {
        Action.SUBSCRIBE: SubState.CONSENT,
        Action.TOPIC: SubState.TOPIC,
        Action.SUB_WARD: SubState.WARD,
    }[cb.action]
    if conv.state != expected:
        return [Reply.of(Msg("hint.stale_button"))]
    draft = conv.draft_as(SubDraft)
    if cb.action is Action.SUBSCRIBE:
        if cb.arg != "yes":  # silence or "no" is never consent
            conv.reset()
            return [Reply.of(Msg("sub.declined"))]
        conv.state = SubState.TOPIC
        return [prompt(conv)]
    if cb.action is Action.TOPIC:
        if cb.arg not in (*TOPICS, "all"):
            return [Reply.of(Msg("hint.stale_button"))]
        draft.topic = cb.arg
        conv.state = SubState.WARD
        return [prompt(conv)]
    ward = int(cb.arg) if cb.arg.isdigit() and ctx.places.get(int(cb.arg)) else None
    if cb.arg != "all" and ward is None:
        return [Reply.of(Msg("hint.stale_button"))]
    return await _subscribe(conv, event, ctx, ward)


async def _on_input(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """A typed ward name while choosing the ward."""
    unreadable = not_for_this_step(conv, event, ctx)
    if unreadable is not None:
        return unreadable
    if conv.state == SubState.WARD and event.kind is EventKind.TEXT and event.text:
        rows = ward_buttons(ctx, event.text, Action.SUB_WARD, "")
        if not rows:
            return [Reply.of(Msg("sub.ward.none")), prompt(conv)]
        rows.append([Choice(Msg("sub.ward.all"), _cb(Action.SUB_WARD, "all"))])
        return [Reply.of(Msg("sub.ward.pick"), choices=rows)]
    return [Reply.of(Msg("hint.pick_button")), prompt(conv)]


async def _subscribe(
    conv: Conversation, event: Event, ctx: FlowContext, ward: int | None
) -> list[Outgoing]:
    topic = conv.draft_as(SubDraft).topic
    await ctx.subscriptions.subscribe(
        channel=event.channel,
        user_key=event.user_key,
        address=ctx.seal(event.address),
        locale=conv.locale or "vi",
        wards=[ward] if ward else [],
        topics=[topic] if topic and topic != "all" else [],
        consent_text=f"{CONSENT_KEY}@{conv.locale or 'vi'}",
        now=ctx.now,
    )
    conv.reset()
    return [Reply.of(Msg("sub.done"))]


async def _unsubscribe(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    had = await ctx.subscriptions.unsubscribe(event.channel, event.user_key)
    if conv.state in STATES:
        conv.reset()
    out: list[Outgoing] = []
    if event.callback_id:
        out.append(Toast(event.callback_id, Msg("sub.stopped.short")))
    out.append(Reply.of(Msg("sub.stopped" if had else "sub.not_subscribed")))
    return out


async def _stop_command(
    conv: Conversation, event: Event, ctx: FlowContext
) -> list[Outgoing] | None:
    return await _unsubscribe(conv, event, ctx)


async def _stop_button(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """The one-tap "stop these messages" under every broadcast."""
    return await _unsubscribe(conv, event, ctx)


STATES = frozenset(s.value for s in SubState)

FLOW = Flow(
    name="subscriptions",
    states={state.value: prompt for state in SubState},
    draft=SubDraft,
    actions={
        Action.SUBSCRIBE: _on_choice,
        Action.TOPIC: _on_choice,
        Action.SUB_WARD: _on_choice,
        Action.UNSUBSCRIBE: _stop_button,
    },
    commands={"subscribe": _subscribe_command, "stop": _stop_command, "unsubscribe": _stop_command},
    on_input=_on_input,
    typed_choices=True,  # where there are no buttons (Zalo), a number or the words
)
