"""The tipster's side of the anonymous relay: answering an officer's question. The
answer goes into the tip's thread and to whoever handles the tip; neither side learns
who the other is."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from handlers.citizen import status
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Deliver, Event, EventKind, Msg, Outgoing, Reply
from handlers.core.registry import Flow
from handlers.core.staffing import cb as _cb
from handlers.core.text import cut, for_staff, is_blank
from storage.models import TipRef

MAX_RELAY_CHARS = 3000


class RelayState(StrEnum):
    """Persisted values: never rename one."""

    ANSWER = "citizen.reply"  # typing an answer to an officer's question
    AMEND = "citizen.amend"  # typing more information about one's own tip


class AnswerDraft(BaseModel):
    target_tip: str | None = None  # the code of the tip the question is about
    verified: bool = False  # reached by a status check with the receipt (pull-only)


async def _own_tip(conv_verified: bool, event: Event, code: str, ctx: FlowContext) -> TipRef | None:
    """The tip, if this chat may answer about it: through the tip's live follow-up
    link, or because it just showed the tip's receipt."""
    ref = await ctx.relay.tip_of_tipster(event.channel, event.user_key, code, ctx.now)
    if ref is None and conv_verified:
        ref = await ctx.relay.tip_by_code(code)
    return ref


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    draft = conv.draft if isinstance(conv.draft, AnswerDraft) else AnswerDraft()
    key = "citizen.amend.prompt" if conv.state == RelayState.AMEND else "citizen.answer.prompt"
    return Reply.of(Msg(key, {"code": draft.target_tip or ""}))


async def on_answer_button(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """A tipster pressed "Answer" under an officer's question."""
    verified = status.verified_for(conv, cb.arg)
    ref = await _own_tip(verified, event, cb.arg, ctx)
    if ref is None:
        return [Reply.of(Msg("hint.stale_button"))]
    state = RelayState.AMEND if cb.action is Action.AMEND else RelayState.ANSWER
    conv.start(state, AnswerDraft(target_tip=ref.code, verified=verified))
    return [prompt(conv)]


async def on_answer_text(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """The tipster's answer goes into the tip's thread and to whoever handles it."""
    draft = conv.draft if isinstance(conv.draft, AnswerDraft) else AnswerDraft()
    amending = conv.state == RelayState.AMEND
    if event.kind is not EventKind.TEXT or not event.text or is_blank(event.text):
        return [Reply.of(Msg("citizen.answer.type_text"))]
    conv.reset()
    ref = await _own_tip(draft.verified, event, draft.target_tip or "", ctx)
    if ref is None:
        return [Reply.of(Msg("hint.stale_button"))]
    text = cut(event.text, MAX_RELAY_CHARS)
    kind = "amendment" if amending else "answer"
    await ctx.relay.add_answer(ref.id, text, ctx.now, kind=kind)
    out: list[Outgoing] = [Reply.of(Msg(f"citizen.{kind}.sent", {"code": ref.code}))]
    for to in await ctx.relay.tip_handlers(ref.id):
        out.append(
            Deliver.of(
                to,
                Reply.of(
                    Msg(f"officer.{kind}", {"code": ref.code, "text": for_staff(text)}),
                    choices=[[Choice(Msg("officer.btn.ask"), _cb(Action.ASK, ref.code))]],
                    html=True,
                    protect=True,
                ),
            )
        )
    return out


FLOW = Flow(
    name="relay",
    states={state.value: prompt for state in RelayState},
    draft=AnswerDraft,
    actions={Action.ANSWER: on_answer_button, Action.AMEND: on_answer_button},
    on_input=on_answer_text,
)
