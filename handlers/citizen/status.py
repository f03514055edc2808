"""Checking a tip with its code and receipt, from any chat."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from handlers.citizen import intake
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Event, EventKind, Msg, Outgoing, Reply
from handlers.core.registry import Flow
from handlers.core.replies import hint, not_for_this_step
from handlers.core.text import is_blank
from handlers.domain import receipts
from handlers.domain.vntime import VIETNAM, local_time


class CheckState(StrEnum):
    """Persisted values: never rename one."""

    CODE = "check.code"
    RECEIPT = "check.receipt"
    VERIFIED = "check.verified"  # code and receipt matched: questions may be answered


class CheckDraft(BaseModel):
    check_code: str | None = None
    verified: bool = False


def verified_for(conv: Conversation, code: str) -> bool:
    """Did this conversation just prove it holds the tip's receipt?"""
    draft = conv.draft
    return (
        conv.state == CheckState.VERIFIED
        and isinstance(draft, CheckDraft)
        and draft.verified
        and draft.check_code == code
    )


def start(conv: Conversation) -> list[Outgoing]:
    conv.start(CheckState.CODE, CheckDraft())
    return [Reply.of(Msg("check.code.ask"))]


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    if conv.state == CheckState.RECEIPT:
        return Reply.of(Msg("check.receipt.ask"))
    if conv.state == CheckState.VERIFIED:
        return Reply.of(Msg("menu.ask"))
    return Reply.of(Msg("check.code.ask"))


async def _on_input(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """Take the code, then the receipt, then answer."""
    if conv.state == CheckState.VERIFIED:
        conv.reset()  # anything but "Answer" after a check: back to the menu
        return [ctx.prompt(conv)]
    unreadable = not_for_this_step(conv, event, ctx)
    if unreadable is not None:
        return unreadable
    text = event.text or ""
    if event.kind is not EventKind.TEXT or is_blank(text):
        return hint(conv, ctx, "hint.type_text")
    draft = conv.draft_as(CheckDraft)
    both = receipts.code_and_receipt(text)
    if both is not None:  # pasted together, as the "copy" button copies them
        conv.reset()
        return await check(conv, *both, ctx)
    if conv.state == CheckState.CODE:
        code = receipts.normalise_code(text)
        if code is None:
            return [Reply.of(Msg("check.code.invalid"))]
        draft.check_code = code
        conv.state = CheckState.RECEIPT
        return [Reply.of(Msg("check.receipt.ask"))]
    receipt = receipts.normalise_receipt(text)
    if receipt is None:
        return [Reply.of(Msg("check.receipt.invalid"))]
    conv.reset()
    return await check(conv, draft.check_code or "", receipt, ctx)


async def _status_command(
    conv: Conversation, event: Event, ctx: FlowContext
) -> list[Outgoing] | None:
    """`/status CODE RECEIPT` in one message, or the questions one by one."""
    both = receipts.code_and_receipt(event.args)
    if both is not None:
        return await check(conv, *both, ctx)
    # As the menu's "check" does: a report in progress is resumed, never thrown away.
    return intake.resume(conv, ctx) if intake.in_progress(conv) else start(conv)


async def check(conv: Conversation, code: str, receipt: str, ctx: FlowContext) -> list[Outgoing]:
    """Verify code + receipt; unknown code and wrong receipt get the same answer."""
    window = ctx.now - timedelta(hours=1)
    failures = [t for t in conv.flood.failed_checks if t > window]
    if len(failures) >= ctx.limits.status_checks_per_hour:
        conv.flood.failed_checks = failures
        return [Reply.of(Msg("check.limited"))]
    tip = await ctx.tips.tip_for_check(code)
    if not await ctx.hasher.verify(tip.receipt_hash if tip else None, receipt) or tip is None:
        conv.flood.failed_checks = [*failures, ctx.now]
        return [Reply.of(Msg("check.not_found"))]
    conv.flood.failed_checks = failures
    result = Msg(
        "check.result",
        {
            "code": tip.code,
            "status": Msg(f"status.{tip.status}"),
            "created": _local(tip.created_at).strftime("%d/%m/%Y"),
            "updated": _local(tip.updated_at).strftime("%d/%m/%Y %H:%M"),
        },
    )
    ref = await ctx.relay.tip_by_code(tip.code)
    thread = await ctx.relay.questions(ref.id) if ref else []
    lines = [
        Msg(
            f"check.{entry.kind}",
            {
                "time": local_time(entry.at),
                "text": entry.body or "",
                "status": Msg(f"status.{entry.detail}") if entry.kind == "status" else "",
            },
        )
        for entry in thread
    ]
    # The pull-only relay: having shown code and receipt, the tipster may answer the
    # officers' questions here, or add to the tip, from any chat, whether or not the
    # tip can still reach them.
    conv.start(CheckState.VERIFIED, CheckDraft(check_code=tip.code, verified=True))
    amend = Choice(Msg("citizen.btn.amend"), Callback(Action.AMEND, tip.code).encode())
    answer = Choice(Msg("citizen.btn.answer"), Callback(Action.ANSWER, tip.code).encode())
    asked = any(entry.kind == "question" for entry in thread)
    rows = [[answer], [amend]] if asked else [[amend]]
    parts = [Msg("check.thread"), *lines] if thread else [Msg("check.no_replies")]
    return [Reply.of(result, *parts, choices=rows)]


def _local(moment: datetime) -> datetime:
    return moment.astimezone(VIETNAM)


FLOW = Flow(
    name="status",
    states={state.value: prompt for state in CheckState},
    draft=CheckDraft,
    commands={"status": _status_command},
    on_input=_on_input,
    typed_choices=True,
)
