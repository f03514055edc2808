"""Delete my data: the subscription, the conversation (with the sealed chat address)
and the campaign ledger rows go; tips already sent stay, detached from the person."""

from __future__ import annotations

from enum import StrEnum

from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Event, Msg, Outgoing, Reply
from handlers.core.registry import Flow
from handlers.core.replies import not_for_this_step


class EraseState(StrEnum):
    """Persisted values: never rename one."""

    CONFIRM = "erase.confirm"  # asked once more


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    yes_no = [
        Choice(Msg("erase.yes"), Callback(Action.ERASE, "yes").encode()),
        Choice(Msg("erase.no"), Callback(Action.ERASE, "no").encode()),
    ]
    return Reply.of(Msg("erase.ask"), choices=[yes_no])


async def _command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    conv.start(EraseState.CONFIRM)
    return [prompt(conv)]


async def _on_choice(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    if conv.state != EraseState.CONFIRM:
        return [Reply.of(Msg("hint.stale_button"))]
    if cb.arg != "yes":
        conv.reset()
        return [Reply.of(Msg("erase.kept"))]
    await ctx.subscriptions.erase(event.channel, event.user_key)
    conv.reset()
    conv.forget = True
    return [Reply.of(Msg("erase.done"))]


async def _on_input(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    unreadable = not_for_this_step(conv, event, ctx)
    return unreadable or [Reply.of(Msg("hint.pick_button")), prompt(conv)]


FLOW = Flow(
    name="erasure",
    states={EraseState.CONFIRM.value: prompt},
    actions={Action.ERASE: _on_choice},
    commands={"deletemydata": _command},
    on_input=_on_input,
    typed_choices=True,  # where there are no buttons (Zalo), a number or the words
)
