"""Checking a tip with its code and receipt, from any chat."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers import receipts
from handlers.context import FlowContext
from handlers.conversation import Conversation, Draft, State
from handlers.events import Msg, Outgoing, Reply


def start(conv: Conversation) -> list[Outgoing]:
    conv.state = State.CHECK_CODE
    conv.draft = Draft()
    return [Reply.of(Msg("check.code.ask"))]


def prompt(conv: Conversation) -> Reply:
    if conv.state is State.CHECK_RECEIPT:
        return Reply.of(Msg("check.receipt.ask"))
    return Reply.of(Msg("check.code.ask"))


async def on_text(conv: Conversation, text: str, ctx: FlowContext) -> list[Outgoing]:
    """Take the code, then the receipt, then answer."""
    if conv.state is State.CHECK_CODE:
        code = receipts.normalise_code(text)
        if code is None:
            return [Reply.of(Msg("check.code.invalid"))]
        conv.draft = Draft(check_code=code)
        conv.state = State.CHECK_RECEIPT
        return [Reply.of(Msg("check.receipt.ask"))]
    code = conv.draft.check_code if conv.draft else None
    receipt = receipts.normalise_receipt(text)
    if receipt is None:
        return [Reply.of(Msg("check.receipt.invalid"))]
    conv.reset()
    return await check(conv, code or "", receipt, ctx)


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
    return [
        Reply.of(
            Msg(
                "check.result",
                {
                    "code": tip.code,
                    "status": Msg(f"status.{tip.status}"),
                    "created": _local(tip.created_at).strftime("%d/%m/%Y"),
                    "updated": _local(tip.updated_at).strftime("%d/%m/%Y %H:%M"),
                },
            ),
            Msg("check.no_replies"),
        )
    ]


_VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def _local(moment: datetime) -> datetime:
    return moment.astimezone(_VIETNAM)
