"""Broadcasts, the admin's side: compose (text, or a photo with a caption), pick the
audience (topic, wards), see a preview with the audience size, then send now or
schedule — with buttons that only the composing admin can use, only while the
campaign is a draft. /campaigns lists, /campaign N reports and pauses, resumes or
cancels."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from handlers.admin import campaign_reports
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import Choice, Event, EventKind, File, Msg, Outgoing, Reply, Toast
from handlers.core.registry import Flow
from handlers.core.replies import not_for_this_step, ward_buttons
from handlers.core.staffing import acting_staff
from handlers.core.text import clean_for_storage, is_blank
from handlers.domain import schedules
from handlers.domain.vntime import VIETNAM
from storage.campaigns import Campaign
from storage.models import Actor

TOPICS = ("drugs", "fraud", "fire", "traffic")  # as subscribers choose them
ADMIN_ACTIONS = frozenset(
    {
        Action.AUDIENCE,
        Action.AUDIENCE_WARD,
        Action.CAMPAIGN_BUTTON,
        Action.CAMPAIGN_SEND,
        Action.CAMPAIGN_SCHEDULE,
        Action.CAMPAIGN_DROP,
    }
)
ADMIN_COMMANDS = frozenset({"broadcast", "campaigns", "campaign"})
MAX_TEXT = 3000
MAX_CAPTION = 1000  # a photo's caption (Telegram: 1024, with the "📢 " prefix)
MAX_WARDS = 30  # wards one campaign can name (each is a button row while picking)


class ComposeState(StrEnum):
    """Persisted values: never rename one."""

    TEXT = "campaign.text"
    AUDIENCE = "campaign.audience"
    WARDS = "campaign.wards"  # typed ward names narrow the audience
    SCHEDULE = "campaign.schedule"


class CampaignDraft(BaseModel):
    campaign_id: int | None = None


def _cb(action: Action, arg: str = "") -> str:
    return Callback(action, arg).encode()


def _campaign_id(conv: Conversation) -> int | None:
    return conv.draft.campaign_id if isinstance(conv.draft, CampaignDraft) else None


def prompt(conv: Conversation, ctx: FlowContext | None = None) -> Reply:
    """Ask again for what the current state waits for."""
    if conv.state == ComposeState.TEXT:
        return Reply.of(Msg("campaign.text.ask"))
    if conv.state == ComposeState.AUDIENCE:
        return audience_choice(_campaign_id(conv))
    if conv.state == ComposeState.WARDS:
        return wards_choice(_campaign_id(conv), [])
    return Reply.of(Msg("campaign.schedule.ask"))


def audience_choice(campaign_id: int | None) -> Reply:
    cid = str(campaign_id or 0)
    rows = [[Choice(Msg("campaign.audience.all"), _cb(Action.AUDIENCE, f"{cid}.all"))]]
    rows += [[Choice(Msg(f"topic.{t}"), _cb(Action.AUDIENCE, f"{cid}.{t}"))] for t in TOPICS]
    return Reply.of(Msg("campaign.audience.ask"), choices=rows)


def wards_choice(campaign_id: int | None, chosen: list[str]) -> Reply:
    """Whole city, or the wards typed so far (then "done")."""
    cid = str(campaign_id or 0)
    city = Choice(Msg("campaign.btn.city"), _cb(Action.AUDIENCE_WARD, f"{cid}.all"))
    if not chosen:
        return Reply.of(Msg("campaign.wards.ask"), choices=[[city]])
    done = Choice(Msg("campaign.btn.wards_done"), _cb(Action.AUDIENCE_WARD, f"{cid}.done"))
    return Reply.of(
        Msg("campaign.wards.chosen", {"wards": ", ".join(chosen)}), choices=[[done], [city]]
    )


def citizen_view(campaign: Campaign) -> Reply | File:
    """A campaign's message exactly as subscribers get it (the preview shows the admin
    the same thing, rendered for the admin's channel): the text, the photo, an optional
    "report a tip" button and the one-tap opt-out."""
    rows = []
    if campaign.report_button:
        rows.append((Choice(Msg("menu.report"), Callback(Action.MENU, "report").encode()),))
    rows.append((Choice(Msg("campaign.btn.stop"), Callback(Action.UNSUBSCRIBE).encode()),))
    reply = Reply(parts=(Msg("campaign.message", {"text": campaign.text}),), choices=tuple(rows))
    # The renderer decides whether the photo can go to `channel` (a platform's file id
    # works only on that platform; a file we hold goes everywhere), else the text alone.
    if campaign.photo_ref and campaign.photo_channel:
        return File(
            "photo", campaign.photo_channel, campaign.photo_ref, caption=reply, protect=False
        )
    return reply


# ---- entry points --------------------------------------------------------------------
async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    """Admins only, from a new (not forwarded) message; None for anyone else (answered
    like any unknown command)."""
    name = event.command or ""
    actor = await acting_staff(
        event, ctx, f"cmd.{name}", admin=True, new_message=True,
        target="forwarded" if event.forwarded else None,
    )  # fmt: skip
    if actor is None:
        return None
    await ctx.audit.audit(
        ctx.now, f"cmd.{name}", "ok", staff_id=actor.id, target=event.args[:64] or None
    )
    if name == "broadcast":
        conv.start(ComposeState.TEXT, CampaignDraft())
        return [prompt(conv)]
    if name == "campaigns":
        return await campaign_reports.recent(ctx)
    return await campaign_reports.manage(actor, event.args, ctx)


async def on_input(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """Typed input while composing: the text or photo, ward names, the schedule."""
    if event.kind in (EventKind.TEXT, EventKind.MEDIA):
        if conv.state == ComposeState.WARDS and event.kind is EventKind.TEXT and event.text:
            return await _search_wards(conv, event, ctx, event.text)
        if conv.state == ComposeState.TEXT:
            return await _compose(conv, event, ctx)
        if conv.state == ComposeState.SCHEDULE and event.kind is EventKind.TEXT and event.text:
            return await _schedule(conv, event, ctx, event.text)
        return [Reply.of(Msg("hint.pick_button")), prompt(conv)]
    unreadable = not_for_this_step(conv, event, ctx)
    return unreadable or [Reply.of(Msg("hint.pick_button")), prompt(conv)]


# ---- admins --------------------------------------------------------------------------
async def _admin(event: Event, ctx: FlowContext, action: str) -> Actor | None:
    """The presser, if an active admin; audits the attempt either way."""
    actor = await ctx.staff.actor(event.channel, event.user_key)
    ok = actor is not None and actor.role == "admin"
    await ctx.audit.audit(
        ctx.now,
        action,
        "ok" if ok else "denied",
        staff_id=actor.id if actor else None,
        actor_key=event.user_key,
    )
    return actor if ok else None


async def _compose(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    actor = await _admin(event, ctx, "campaign.compose")
    if actor is None:
        conv.reset()
        return [Reply.of(Msg("hint.unknown_command"))]
    photo = event.media if event.media and event.media.kind == "photo" else None
    text = clean_for_storage(event.text or "").strip()
    limit = MAX_CAPTION if photo else MAX_TEXT
    if is_blank(text) or len(text) > limit or (event.media and not photo):
        return [Reply.of(Msg("campaign.text.invalid", {"max": limit})), prompt(conv)]
    campaign_id = await ctx.campaigns.create(
        created_by=actor.id,
        text=text,
        photo_channel=event.channel if photo else None,
        photo_ref=photo.file_ref if photo else None,
        report_button=True,
        now=ctx.now,
    )
    conv.start(ComposeState.AUDIENCE, CampaignDraft(campaign_id=campaign_id))
    return [prompt(conv)]


async def on_choice(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    actor = await _admin(event, ctx, f"campaign.{cb.action.value}")
    head, _, choice = cb.arg.partition(".")
    campaign = await ctx.campaigns.get(int(head)) if head.isdigit() else None
    # Bound to the composing admin: another admin's (or a forged) button does nothing.
    if actor is None or campaign is None or campaign.created_by != actor.id:
        return [Toast(event.callback_id or "", Msg("officer.not_allowed"))]
    if campaign.status != "draft":
        return [Reply.of(Msg("hint.stale_button"))]
    if cb.action is Action.CAMPAIGN_DROP:
        await ctx.campaigns.transition(
            campaign.id, admin_id=actor.id, from_=("draft",), status="cancelled"
        )
        conv.reset()
        return [Reply.of(Msg("campaign.dropped", {"id": campaign.id}))]
    if cb.action is Action.AUDIENCE:
        topics = [choice] if choice in TOPICS else []
        await ctx.campaigns.set_audience(campaign.id, [], topics)
        conv.start(ComposeState.WARDS, CampaignDraft(campaign_id=campaign.id))
        return [wards_choice(campaign.id, [])]
    if cb.action is Action.AUDIENCE_WARD:
        conv.start(ComposeState.WARDS, CampaignDraft(campaign_id=campaign.id))
        if choice == "all":
            await ctx.campaigns.set_audience(campaign.id, [], campaign.topics)
        elif choice != "done":
            place = ctx.places.get(int(choice)) if choice.isdigit() else None
            if place is None:
                return [Reply.of(Msg("hint.stale_button"))]
            wards = campaign.wards
            if place.code not in wards and len(wards) < MAX_WARDS:
                wards = [*wards, place.code]
                await ctx.campaigns.set_audience(campaign.id, wards, campaign.topics)
            return [wards_choice(campaign.id, _ward_names(wards, ctx))]
        fresh = await ctx.campaigns.get(campaign.id)
        assert fresh is not None
        return await _preview(fresh, event, ctx)
    if cb.action is Action.CAMPAIGN_BUTTON:
        await ctx.campaigns.transition(
            campaign.id,
            admin_id=actor.id,
            from_=("draft",),
            report_button=not campaign.report_button,
        )
        fresh = await ctx.campaigns.get(campaign.id)
        assert fresh is not None
        return await _preview(fresh, event, ctx)
    if cb.action is Action.CAMPAIGN_SCHEDULE:
        conv.start(ComposeState.SCHEDULE, CampaignDraft(campaign_id=campaign.id))
        return [Reply.of(Msg("campaign.schedule.ask"))]
    # Send now: the second step, by the same admin, on a draft that is still a draft.
    # "paid" is the button that showed the cost; it means nothing when paid broadcasts
    # are not offered (an old button after the setting was turned off).
    paid = choice == "paid" and ctx.limits.paid_stars_per_message is not None
    if choice == "paid" and not paid:
        return [Reply.of(Msg("hint.stale_button"))]
    started = await ctx.campaigns.transition(
        campaign.id, admin_id=actor.id, from_=("draft",), status="confirmed", paid=paid
    )
    if not started:
        return [Reply.of(Msg("hint.stale_button"))]
    targeted = await ctx.campaigns.start_run(campaign.id, ctx.now)
    conv.reset()
    return [Reply.of(Msg("campaign.started", {"id": campaign.id, "count": targeted}))]


async def _preview(campaign: Campaign, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """The message as subscribers will get it, then who gets it and the choices (with
    a paid send's speed and cost when paid broadcasts are offered)."""
    audience_rows = await ctx.subscriptions.audience(campaign.wards, campaign.topics)
    size = len(audience_rows)
    topic = campaign.topics[0] if campaign.topics else None
    audience = Msg(f"topic.{topic}") if topic in TOPICS else Msg("campaign.audience.all")
    names = _ward_names(campaign.wards, ctx)
    where = (
        Msg("campaign.wards.list", {"wards": ", ".join(names)}) if names else Msg("sub.ward.all")
    )
    toggle = "campaign.btn.report_off" if campaign.report_button else "campaign.btn.report_on"
    cid = str(campaign.id)
    rows = [[Choice(Msg("campaign.btn.send"), _cb(Action.CAMPAIGN_SEND, cid))]]
    paid_offer: list[Outgoing] = []
    fee = ctx.limits.paid_stars_per_message
    on_telegram = sum(1 for s in audience_rows if s.channel == "telegram")
    if fee is not None and on_telegram:
        cost = paid_cost(on_telegram, fee)
        free_minutes = max(1, round(on_telegram / max(ctx.limits.broadcast_rate, 1) / 60))
        paid_seconds = max(1, round(on_telegram / ctx.limits.paid_rate))
        paid_offer = [
            Reply.of(
                Msg(
                    "campaign.paid.offer",
                    {
                        "count": on_telegram,
                        "stars": cost,
                        "fee": f"{fee:g}",
                        "free_minutes": free_minutes,
                        "paid_seconds": paid_seconds,
                    },
                )
            )
        ]
        rows.append(
            [
                Choice(
                    Msg("campaign.btn.send_paid", {"stars": cost}),
                    _cb(Action.CAMPAIGN_SEND, f"{cid}.paid"),
                )
            ]
        )
    rows += [
        [Choice(Msg("campaign.btn.schedule"), _cb(Action.CAMPAIGN_SCHEDULE, cid))],
        [Choice(Msg(toggle), _cb(Action.CAMPAIGN_BUTTON, cid))],
        [Choice(Msg("campaign.btn.drop"), _cb(Action.CAMPAIGN_DROP, cid))],
    ]
    summary: dict[str, str | int | Msg] = {
        "id": campaign.id,
        "audience": audience,
        "wards": where,
        "count": size,
    }
    return [
        Reply.of(Msg("campaign.preview.title")),
        citizen_view(campaign),
        *paid_offer,
        Reply.of(Msg("campaign.preview", summary), choices=rows),
    ]


def paid_cost(messages: int, stars_per_message: float) -> str:
    """The most a paid send can cost, in Stars (one message per Telegram recipient;
    Telegram takes the fee from the bot's balance), as the admin reads it."""
    return f"{messages * stars_per_message:,.1f}".replace(",", " ")


def _ward_names(codes: list[int], ctx: FlowContext) -> list[str]:
    return [place.name for code in codes if (place := ctx.places.get(code)) is not None]


async def _search_wards(
    conv: Conversation, event: Event, ctx: FlowContext, text: str
) -> list[Outgoing]:
    """A typed ward name while composing: the matching wards, as buttons to add."""
    composing = await _composing(conv, event, ctx, "campaign.wards")
    if composing is None:
        return [Reply.of(Msg("hint.unknown_command"))]
    rows = ward_buttons(ctx, text, Action.AUDIENCE_WARD, f"{composing[1]}.")
    if not rows:
        return [Reply.of(Msg("campaign.wards.none")), prompt(conv)]
    return [Reply.of(Msg("campaign.wards.pick"), choices=rows)]


async def _composing(
    conv: Conversation, event: Event, ctx: FlowContext, action: str
) -> tuple[Actor, int] | None:
    """The admin typing into a draft campaign, and its id; None (and the conversation
    reset) when the sender is no longer an admin or there is no draft."""
    actor = await _admin(event, ctx, action)
    campaign_id = _campaign_id(conv)
    if actor is None or campaign_id is None:
        conv.reset()
        return None
    return actor, campaign_id


async def _schedule(
    conv: Conversation, event: Event, ctx: FlowContext, text: str
) -> list[Outgoing]:
    composing = await _composing(conv, event, ctx, "campaign.schedule")
    if composing is None:
        return [Reply.of(Msg("hint.stale_button"))]
    actor, campaign_id = composing
    run_at, cron = schedules.parse(text, ctx.now)
    if run_at is None and cron is None:
        return [Reply.of(Msg("campaign.schedule.invalid")), prompt(conv)]
    ok = await ctx.campaigns.transition(
        campaign_id,
        admin_id=actor.id,
        from_=("draft",),
        status="scheduled",
        run_at=run_at,
        cron=cron,
    )
    conv.reset()
    if not ok:
        return [Reply.of(Msg("hint.stale_button"))]
    when = run_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M") if run_at else cron or ""
    return [Reply.of(Msg("campaign.scheduled", {"id": campaign_id, "when": when}))]


FLOW = Flow(
    name="broadcasts",
    states={state.value: prompt for state in ComposeState},
    draft=CampaignDraft,
    actions=dict.fromkeys(ADMIN_ACTIONS, on_choice),
    commands=dict.fromkeys(ADMIN_COMMANDS, on_command),
    on_input=on_input,
)
