"""The officer's desk in a chat: commands, buttons on alerts and lists, composing a
question for a tipster or an internal note. (Joining is `join.py`, finding is
`search.py`; the cards are `cards.py`.) Just over 400 lines: every officer action is
here, each with its authorisation and audit, so one file shows what an officer can do.

Every action starts by reading the actor from the database (no cache: a removed
officer is refused at once) and every tip it touches is fetched through a query that
authorises the actor itself. A tip the actor may not see gets exactly the answer a
code that does not exist gets. Each attempt, allowed or denied, is audited.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from handlers.core import callbacks
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import (
    Choice,
    Deliver,
    Event,
    EventKind,
    File,
    Msg,
    Outgoing,
    Pin,
    Reply,
    Toast,
)
from handlers.core.registry import Flow
from handlers.core.staffing import acting_staff, own_chat
from handlers.core.staffing import cb as _cb
from handlers.core.text import cut, for_staff, is_blank
from handlers.domain import receipts
from handlers.domain.vntime import local_time
from handlers.staff import cards, search
from storage.models import Actor, TipRef

OFFICER_COMMANDS = frozenset(
    {
        "tips",
        "mine",
        "tip",
        "find",
        "claim",
        "unclaim",
        "setstatus",
        "ask",
        "note",
        "transfer",
        "thread",
    }
)
OFFICER_ACTIONS = frozenset(
    {
        Action.VIEW,
        Action.CLAIM,
        Action.STATUS_MENU,
        Action.STATUS_SET,
        Action.ASK,
        Action.NOTE,
        Action.TRANSFER_MENU,
        Action.TRANSFER_TO,
        Action.THREAD,
    }
)
STATUSES = ("verifying", "in_progress", "resolved", "unfounded", "spam")
MAX_RELAY_CHARS = 3000


class DeskState(StrEnum):
    """Persisted values: never rename one."""

    ASK = "staff.ask"  # an officer typing a question for a tipster
    NOTE = "staff.note"  # an officer typing an internal note


class ComposeDraft(BaseModel):
    target_tip: str | None = None  # the tip code the question or note is about


def _not_found() -> Reply:
    return Reply.of(Msg("officer.not_found"))


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    draft = conv.draft if isinstance(conv.draft, ComposeDraft) else ComposeDraft()
    key = "officer.ask.prompt" if conv.state == DeskState.ASK else "officer.note.prompt"
    return Reply.of(Msg(key, {"code": draft.target_tip or ""}))


# ---- entry points --------------------------------------------------------------------
async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    """An officer command; None when this person may not use it, so the router answers
    it exactly like any unknown command (no hint that it exists)."""
    name = event.command or ""
    actor = await acting_staff(event, ctx, f"cmd.{name}")
    if actor is None:
        return None
    return await _officer_command(conv, actor, name, event.args, ctx)


async def on_choice(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """A button on an alert or a list: re-authorised against whoever pressed it."""
    actor = await acting_staff(event, ctx, f"btn.{cb.action.value}", target=cb.arg)
    if actor is None:
        return [Toast(event.callback_id or "", Msg("officer.not_allowed"))]
    return await _officer_choice(conv, actor, cb, ctx)


async def on_text(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """Typed text while composing a question or a note."""
    draft = conv.draft if isinstance(conv.draft, ComposeDraft) else ComposeDraft()
    code, state = draft.target_tip, conv.state
    if event.kind is not EventKind.TEXT or not event.text or is_blank(event.text) or not code:
        return [Reply.of(Msg("officer.type_text"))]
    conv.reset()
    actor = await ctx.staff.actor(event.channel, event.user_key)
    if actor is None:
        await ctx.audit.audit(ctx.now, "compose", "denied", actor_key=event.user_key, target=code)
        return [Reply.of(Msg("hint.unknown_command"))]
    if state == DeskState.ASK:
        return await _ask(actor, code, event.text, ctx)
    return await _note(actor, code, event.text, ctx)


async def on_group_press(event: Event, ctx: FlowContext) -> list[Outgoing]:
    """A button pressed on a unit's alert in a group chat: answered privately."""
    actor = await ctx.staff.actor(event.channel, event.user_key)
    cb = _parse_officer(event.choice)
    toast = event.callback_id or ""
    if actor is None or cb is None:
        await ctx.audit.audit(
            ctx.now, "btn.group", "denied", actor_key=event.user_key, target=cb.arg if cb else None
        )
        return [Toast(toast, Msg("officer.not_allowed"))]
    own = await own_chat(actor, event, ctx)
    if own is None:
        return [Toast(toast, Msg("officer.open_private"))]
    if cb.action in (Action.ASK, Action.NOTE):
        # Typing happens in the private chat, whose conversation is not this event's.
        command = "ask" if cb.action is Action.ASK else "note"
        hint = Reply.of(Msg("officer.use_command", {"command": command, "code": cb.arg}))
        return [Toast(toast), Deliver.of(own, hint)]
    out = await _officer_choice(None, actor, cb, ctx)
    toasts: list[Outgoing] = [o for o in out if isinstance(o, Toast)]
    private = tuple(o for o in out if isinstance(o, Reply | Pin | File))
    others = [o for o in out if isinstance(o, Deliver)]
    result: list[Outgoing] = toasts or [Toast(toast)]
    if private:
        result.append(Deliver(own, private))
    return result + others


# ---- officer actions -----------------------------------------------------------------
async def _officer_command(
    conv: Conversation, actor: Actor, name: str, args: str, ctx: FlowContext
) -> list[Outgoing]:
    # The audit keeps what was asked for (a code, a search), never a question or note.
    target = args.split(maxsplit=1)[0][:64] if args.strip() else None
    await ctx.audit.audit(ctx.now, f"cmd.{name}", "ok", staff_id=actor.id, target=target)
    if name == "tips":
        lines = await ctx.desk.search(actor.id, open_only=True)
        return [cards.tip_lines(lines, ctx.places, "officer.none_open")]
    if name == "mine":
        lines = await ctx.desk.search(actor.id, open_only=True, claimed_by_me=True)
        return [cards.tip_lines(lines, ctx.places, "officer.none_mine")]
    if name == "find":
        return await search.find(actor, args, ctx)
    head, _, rest = args.partition(" ")
    code = receipts.normalise_code(head)
    if code is None:
        return [Reply.of(Msg(f"officer.usage.{name}"))]
    if name == "tip":
        return await _view(actor, code, ctx)
    if name == "claim":
        return await _claim(actor, code, ctx)
    if name == "unclaim":
        return await _unclaim(actor, code, ctx)
    if name == "thread":
        return await _thread(actor, code, ctx)
    if name == "setstatus":
        status = rest.strip().lower().replace("-", "_")
        if status not in STATUSES:
            return [Reply.of(Msg("officer.usage.setstatus"))]
        return await _set_status(actor, code, status, ctx)
    if name == "transfer":
        if not rest.strip().isdigit():
            return await _transfer_menu(actor, code, ctx)
        return await _transfer(actor, code, int(rest.strip()), ctx)
    if name in ("ask", "note"):
        if is_blank(rest):
            state = DeskState.ASK if name == "ask" else DeskState.NOTE
            conv.start(state, ComposeDraft(target_tip=code))
            return [prompt(conv)]
        if name == "ask":
            return await _ask(actor, code, rest, ctx)
        return await _note(actor, code, rest, ctx)
    return [Reply.of(Msg("hint.unknown_command"))]


async def _officer_choice(
    conv: Conversation | None, actor: Actor, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    code_part, _, value = cb.arg.partition(".")
    code = receipts.normalise_code(code_part)
    if code is None:
        await ctx.audit.audit(ctx.now, f"btn.{cb.action.value}", "denied", staff_id=actor.id)
        return [_not_found()]
    if cb.action is Action.VIEW:
        return await _view(actor, code, ctx)
    if cb.action is Action.CLAIM:
        return await _claim(actor, code, ctx)
    if cb.action is Action.THREAD:
        return await _thread(actor, code, ctx)
    if cb.action is Action.STATUS_MENU:
        ref = await _authorised(actor, code, "btn.status", ctx)
        if ref is None:
            return [_not_found()]
        buttons = [  # not the status it already has
            [Choice(Msg(f"status.{s}"), _cb(Action.STATUS_SET, f"{code}.{s}"))]
            for s in STATUSES
            if s != ref.status
        ]
        return [Reply.of(Msg("officer.status.pick", {"code": code}), choices=buttons)]
    if cb.action is Action.STATUS_SET:
        if value not in STATUSES:
            return [_not_found()]
        return await _set_status(actor, code, value, ctx)
    if cb.action is Action.TRANSFER_MENU:
        return await _transfer_menu(actor, code, ctx)
    if cb.action is Action.TRANSFER_TO:
        if not value.isdigit():
            return [_not_found()]
        return await _transfer(actor, code, int(value), ctx)
    if cb.action in (Action.ASK, Action.NOTE) and conv is not None:
        ref = await _authorised(actor, code, f"btn.{cb.action.value}", ctx)
        if ref is None:
            return [_not_found()]
        state = DeskState.ASK if cb.action is Action.ASK else DeskState.NOTE
        conv.start(state, ComposeDraft(target_tip=code))
        return [prompt(conv)]
    return [_not_found()]


async def _authorised(actor: Actor, code: str, action: str, ctx: FlowContext) -> TipRef | None:
    """The tip if the actor may act on it; audits the attempt either way."""
    ref = await ctx.desk.tip_ref(actor.id, code)
    await ctx.audit.audit(
        ctx.now,
        action,
        "ok" if ref else "denied",
        staff_id=actor.id,
        tip_id=ref.id if ref else None,
        target=code,
    )
    return ref


async def _view(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    view = await ctx.desk.tip_view(actor.id, code)
    await ctx.audit.audit(
        ctx.now,
        "view",
        "ok" if view else "denied",
        staff_id=actor.id,
        tip_id=view.id if view else None,
        target=code,
    )
    if view is None:
        return [_not_found()]
    return list(cards.card(view, ctx.places, title="officer.card.view"))


async def _claim(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.desk.claim(actor.id, code, ctx.now)
    if ref is None:
        visible = await _authorised(actor, code, "claim", ctx)
        if visible is None:
            return [_not_found()]
        return [Reply.of(Msg("officer.claim.taken", {"code": code}))]
    await ctx.desk.add_event(ref.id, "claim", ctx.now, staff_id=actor.id)
    await ctx.audit.audit(ctx.now, "claim", "ok", staff_id=actor.id, tip_id=ref.id, target=code)
    return [
        Reply.of(Msg("officer.claim.done", {"code": code})),
        *await _tell_tipster(ref, ctx),
    ]


async def _unclaim(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.desk.unclaim(actor.id, code, ctx.now, ctx.limits.claim_within)
    if ref is None:
        visible = await _authorised(actor, code, "unclaim", ctx)
        if visible is None:
            return [_not_found()]
        return [Reply.of(Msg("officer.unclaim.not_yours", {"code": code}))]
    await ctx.desk.add_event(ref.id, "unclaim", ctx.now, staff_id=actor.id)
    await ctx.audit.audit(ctx.now, "unclaim", "ok", staff_id=actor.id, tip_id=ref.id, target=code)
    return [Reply.of(Msg("officer.unclaim.done", {"code": code}))]


async def _set_status(actor: Actor, code: str, status: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.desk.set_status(actor.id, code, status, ctx.now)
    if ref is None:
        visible = await _authorised(actor, code, "status", ctx)
        if visible is None:
            return [_not_found()]
        return [
            Reply.of(Msg("officer.status.same", {"code": code, "status": Msg(f"status.{status}")}))
        ]
    await ctx.desk.add_event(ref.id, "status", ctx.now, staff_id=actor.id, detail=status)
    await ctx.audit.audit(
        ctx.now, f"status.{status}", "ok", staff_id=actor.id, tip_id=ref.id, target=code
    )
    return [
        Reply.of(Msg("officer.status.done", {"code": code, "status": Msg(f"status.{status}")})),
        *await _tell_tipster(ref, ctx),
    ]


async def _tell_tipster(ref: TipRef, ctx: FlowContext) -> list[Outgoing]:
    """A short, generic update to the tipster, in their language (no officer name)."""
    to = await ctx.relay.tipster(ref.id, ctx.now)
    if to is None:
        return []  # past the follow-up window: they see it when they check the tip
    to = to.model_copy(update={"locale": to.locale or ref.locale})
    return [
        Deliver.of(
            to,
            Reply.of(
                Msg("citizen.status", {"code": ref.code, "status": Msg(f"status.{ref.status}")})
            ),
        )
    ]


async def _ask(actor: Actor, code: str, text: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "ask", ctx)
    if ref is None:
        return [_not_found()]
    question = cut(text.strip(), MAX_RELAY_CHARS)
    await ctx.desk.add_event(ref.id, "question", ctx.now, staff_id=actor.id, body=question)
    to = await ctx.relay.tipster(ref.id, ctx.now)
    if to is None:
        # No live link to the tipster (window over, or they erased their data): the
        # question waits in the thread and is shown when they check the tip.
        return [Reply.of(Msg("officer.ask.unreachable", {"code": code}))]
    to = to.model_copy(update={"locale": to.locale or ref.locale})
    relay = Reply.of(
        Msg("citizen.question", {"code": ref.code, "text": question}),
        choices=[[Choice(Msg("citizen.btn.answer"), _cb(Action.ANSWER, ref.code))]],
    )
    return [Reply.of(Msg("officer.ask.sent", {"code": code})), Deliver.of(to, relay)]


async def _note(actor: Actor, code: str, text: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "note", ctx)
    if ref is None:
        return [_not_found()]
    await ctx.desk.add_event(
        ref.id, "note", ctx.now, staff_id=actor.id, body=cut(text.strip(), 4000)
    )
    return [Reply.of(Msg("officer.note.saved", {"code": code}))]


async def _thread(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "thread", ctx)
    if ref is None:
        return [_not_found()]
    entries = await ctx.desk.thread(ref.id)
    if not entries:
        return [Reply.of(Msg("officer.thread.empty", {"code": code}))]
    parts = [Msg("officer.thread.title", {"code": code})]
    for entry in entries:
        detail: str | Msg = entry.detail or ""
        if entry.kind == "status" and entry.detail:
            detail = Msg(f"status.{entry.detail}")
        parts.append(
            Msg(
                "officer.thread.entry",
                {
                    "time": local_time(entry.at),
                    "kind": Msg(f"officer.event.{entry.kind}"),
                    "detail": detail,
                    # A tipster's words are set off; staff's own are not.
                    "body": for_staff(entry.body or "")
                    if entry.kind in ("answer", "amendment")
                    else entry.body or "",
                },
            )
        )
    return [Reply.of(*parts, html=True, protect=True)]


async def _transfer_menu(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "transfer.menu", ctx)
    if ref is None:
        return [_not_found()]
    units = await ctx.units.list_units()
    buttons = [
        [Choice(Msg("officer.plain", {"text": u.name}), _cb(Action.TRANSFER_TO, f"{code}.{u.id}"))]
        for u in units[:20]
    ]
    return [Reply.of(Msg("officer.transfer.pick", {"code": code}), choices=buttons)]


async def _transfer(actor: Actor, code: str, unit_id: int, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.desk.transfer(actor.id, code, unit_id, ctx.now, ctx.limits.claim_within)
    await ctx.audit.audit(
        ctx.now,
        "transfer",
        "ok" if ref else "denied",
        staff_id=actor.id,
        tip_id=ref.id if ref else None,
        target=f"{code}>{unit_id}",
    )
    if ref is None:
        return [_not_found()]
    await ctx.desk.add_event(ref.id, "transfer", ctx.now, staff_id=actor.id, detail=str(unit_id))
    return [Reply.of(Msg("officer.transfer.done", {"code": code, "unit": unit_id}))]


def _parse_officer(raw: str | None) -> Callback | None:
    cb = callbacks.parse(raw)
    return cb if cb is not None and cb.action in OFFICER_ACTIONS else None


FLOW = Flow(
    name="desk",
    states={state.value: prompt for state in DeskState},
    draft=ComposeDraft,
    actions=dict.fromkeys(OFFICER_ACTIONS, on_choice),
    commands=dict.fromkeys(OFFICER_COMMANDS, on_command),
    on_input=on_text,
    group={EventKind.CHOICE: on_group_press},
)
