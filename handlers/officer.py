"""Officer and admin flows, channel-neutral: commands, buttons on alerts, the relay.

Every action starts by reading the actor from the database (no cache: a removed
officer is refused at once) and every tip it touches is fetched through a query that
authorises the actor itself. A tip the actor may not see gets exactly the answer a
code that does not exist gets. Each attempt, allowed or denied, is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers import callbacks, receipts, taxonomy
from handlers.callbacks import Action, Callback
from handlers.context import FlowContext
from handlers.conversation import Conversation, Draft, State
from handlers.events import (
    Choice,
    Deliver,
    Event,
    EventKind,
    File,
    Item,
    Leave,
    Msg,
    Outgoing,
    Pin,
    Reply,
    Toast,
)
from handlers.places import Gazetteer, Place
from handlers.text import cut, fold, is_blank
from storage.models import Actor, Recipient, TipLine, TipRef, TipView

OFFICER_COMMANDS = frozenset(
    {"tips", "mine", "tip", "find", "claim", "setstatus", "ask", "note", "transfer", "thread"}
)
ADMIN_COMMANDS = frozenset(
    {"units", "newunit", "unitwards", "unitcats", "invite", "staff", "removestaff"}
)
STAFF_COMMANDS = OFFICER_COMMANDS | ADMIN_COMMANDS
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
        Action.GROUP_BIND,
    }
)
STAFF_STATES = frozenset({State.STAFF_ASK, State.STAFF_NOTE})
STATUSES = ("verifying", "in_progress", "resolved", "unfounded", "spam")
MAX_RELAY_CHARS = 3000
_VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def local_time(moment: datetime) -> str:
    return moment.astimezone(_VIETNAM).strftime("%d/%m/%Y %H:%M")


def _cb(action: Action, arg: str = "") -> str:
    return Callback(action, arg).encode()


def account_label(name: str) -> str | None:
    """A short ASCII label for a new account ("Nguyễn Minh" → "nguyen-minh")."""
    label = "".join(ch for ch in fold(name).replace(" ", "-") if ch.isalnum() or ch == "-")
    return label[:40] or None


def _not_found() -> Reply:
    return Reply.of(Msg("officer.not_found"))


def ward_label(places: Gazetteer, ward_code: int | None) -> str | Msg:
    place = places.get(ward_code) if ward_code else None
    return place.name if place else Msg("officer.no_ward")


# ---- the tip card --------------------------------------------------------------------
def actions(code: str) -> list[list[Choice]]:
    return [
        [
            Choice(Msg("officer.btn.claim"), _cb(Action.CLAIM, code)),
            Choice(Msg("officer.btn.status"), _cb(Action.STATUS_MENU, code)),
        ],
        [
            Choice(Msg("officer.btn.ask"), _cb(Action.ASK, code)),
            Choice(Msg("officer.btn.note"), _cb(Action.NOTE, code)),
        ],
        [
            Choice(Msg("officer.btn.transfer"), _cb(Action.TRANSFER_MENU, code)),
            Choice(Msg("officer.btn.thread"), _cb(Action.THREAD, code)),
        ],
    ]


def card(view: TipView, places: Gazetteer, *, title: str = "officer.card.new") -> list[Item]:
    """The alert: facts first, then the description (HTML-escaped by the renderer and
    split to fit), the map pin and the attachments re-sent by reference."""
    category = taxonomy.BY_ID.get(view.category)
    claim = (
        Msg("officer.claimed_by_me")
        if view.claimed_by_me
        else Msg("officer.claimed")
        if view.claimed_by
        else Msg("officer.unclaimed")
    )
    place: str | Msg = view.address_text or view.location_label or ""
    parts = [
        Msg(
            title,
            {
                "code": view.code,
                "urgent": Msg("officer.urgent") if view.urgent else "",
                "group": Msg(f"group.{category.group.value}") if category else view.category,
                "category": Msg(f"cat.{view.category}") if category else view.category,
                "ward": ward_label(places, view.ward_code),
                "place": place,
                "time": local_time(view.created_at),
                "occurred": Msg("when.text", {"text": view.occurred_text or ""})
                if view.occurred == "text"
                else Msg(f"when.{view.occurred}"),
                "status": Msg(f"status.{view.status}"),
                "claim": claim,
                "units": ", ".join(view.units),
                "files": len(view.attachments),
            },
        ),
        Msg("officer.description", {"text": view.description})
        if view.description
        else Msg("officer.no_description"),
    ]
    if view.contact_phone:
        parts.append(Msg("officer.contact", {"phone": view.contact_phone}))
    if any(a.kind != "photo" for a in view.attachments):
        # Files from the public are checked only by their first bytes: a document or
        # video may still carry an exploit, so say where (not) to open it.
        parts.append(Msg("officer.file_warning"))
    items: list[Item] = [Reply.of(*parts, choices=actions(view.code), html=True, protect=True)]
    if view.latitude is not None and view.longitude is not None:
        items.append(Pin(view.latitude, view.longitude))
    for attachment in view.attachments:
        if not attachment.too_large:
            items.append(File(attachment.kind, attachment.channel, attachment.file_ref))
    return items


def tip_lines(
    lines: list[TipLine], places: Gazetteer, empty: str, title: Msg | None = None
) -> Reply:
    if not lines:
        return Reply.of(Msg(empty))
    rows = [
        Msg(
            "officer.line",
            {
                "code": line.code,
                "urgent": Msg("officer.urgent") if line.urgent else "",
                "category": Msg(f"cat.{line.category}")
                if line.category in taxonomy.BY_ID
                else line.category,
                "ward": ward_label(places, line.ward_code),
                "status": Msg(f"status.{line.status}"),
                "time": local_time(line.created_at),
            },
        )
        for line in lines
    ]
    buttons = [
        [Choice(Msg("officer.btn.open", {"code": line.code}), _cb(Action.VIEW, line.code))]
        for line in lines[:10]
    ]
    head = title or Msg("officer.list", {"count": len(lines)})
    return Reply.of(head, *rows, choices=buttons)


# ---- entry points --------------------------------------------------------------------
async def on_command(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing] | None:
    """Handle a staff command; None when it is not one this person may use, so the
    router answers it exactly like any unknown command (no hint that it exists)."""
    name = event.command or ""
    if name == "join":
        return await _join(conv, event, ctx)
    if name not in STAFF_COMMANDS:
        return None
    actor = await ctx.office.actor(event.channel, event.user_key)
    if actor is None or (name in ADMIN_COMMANDS and actor.role != "admin"):
        await ctx.office.audit(
            ctx.now,
            f"cmd.{name}",
            "denied",
            staff_id=actor.id if actor else None,
            actor_key=event.user_key,
        )
        return None
    if name in ADMIN_COMMANDS:
        return await _admin(actor, name, event.args, ctx)
    return await _officer_command(conv, actor, name, event.args, ctx)


async def on_choice(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """A button on an alert or a list: re-authorised against whoever pressed it."""
    actor = await ctx.office.actor(event.channel, event.user_key)
    if actor is None:
        await ctx.office.audit(
            ctx.now, f"btn.{cb.action.value}", "denied", actor_key=event.user_key, target=cb.arg
        )
        return [Toast(event.callback_id or "", Msg("officer.not_allowed"))]
    return await _officer_choice(conv, actor, cb, ctx)


async def on_text(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """Typed text while composing a question or a note."""
    code = conv.draft.target_tip if conv.draft else None
    state = conv.state
    if event.kind is not EventKind.TEXT or not event.text or is_blank(event.text) or not code:
        return [Reply.of(Msg("officer.type_text"))]
    conv.reset()
    actor = await ctx.office.actor(event.channel, event.user_key)
    if actor is None:
        await ctx.office.audit(ctx.now, "compose", "denied", actor_key=event.user_key, target=code)
        return [Reply.of(Msg("hint.unknown_command"))]
    if state is State.STAFF_ASK:
        return await _ask(actor, code, event.text, ctx)
    return await _note(actor, code, event.text, ctx)


def prompt(conv: Conversation) -> Reply:
    code = conv.draft.target_tip if conv.draft else ""
    key = "officer.ask.prompt" if conv.state is State.STAFF_ASK else "officer.note.prompt"
    return Reply.of(Msg(key, {"code": code or ""}))


async def on_group(event: Event, ctx: FlowContext) -> list[Outgoing]:
    """What happens in a group: the bot added to one, or a button on a unit's alert."""
    actor = await ctx.office.actor(event.channel, event.user_key)
    if event.kind is EventKind.JOINED:
        if actor is None or actor.role != "admin":
            await ctx.office.audit(ctx.now, "group.add", "denied", actor_key=event.user_key)
            return [Leave()]
        own = await _own_chat(actor, event, ctx)
        if own is None:
            return [Leave()]
        group_id = await ctx.office.add_pending_group(
            event.channel, event.chat_key or "", ctx.seal(event.address), actor.id, ctx.now
        )
        await ctx.office.audit(ctx.now, "group.add", "ok", staff_id=actor.id, target=group_id)
        units = await ctx.office.list_units()
        buttons = [
            [
                Choice(
                    Msg("officer.plain", {"text": u.name}),
                    _cb(Action.GROUP_BIND, f"{group_id}.{u.id}"),
                )
            ]
            for u in units[:20]
        ]
        title = cut(event.text or "", 60)
        return [
            Deliver.of(own, Reply.of(Msg("admin.group.pick", {"title": title}), choices=buttons))
        ]
    cb = _parse_officer(event.choice)
    toast = event.callback_id or ""
    if actor is None or cb is None:
        await ctx.office.audit(
            ctx.now, "btn.group", "denied", actor_key=event.user_key, target=cb.arg if cb else None
        )
        return [Toast(toast, Msg("officer.not_allowed"))]
    own = await _own_chat(actor, event, ctx)
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


async def on_answer_button(
    conv: Conversation, event: Event, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    """A tipster pressed "Answer" under an officer's question."""
    ref = await ctx.office.tip_of_tipster(event.channel, event.user_key, cb.arg)
    if ref is None:
        return [Reply.of(Msg("hint.stale_button"))]
    conv.state = State.REPLY
    conv.draft = Draft(target_tip=ref.code)
    return [Reply.of(Msg("citizen.answer.prompt", {"code": ref.code}))]


async def on_answer_text(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    """The tipster's answer goes into the tip's thread and to whoever handles it."""
    code = conv.draft.target_tip if conv.draft else None
    if event.kind is not EventKind.TEXT or not event.text or is_blank(event.text):
        return [Reply.of(Msg("citizen.answer.type_text"))]
    conv.reset()
    ref = await ctx.office.tip_of_tipster(event.channel, event.user_key, code or "")
    if ref is None:
        return [Reply.of(Msg("hint.stale_button"))]
    text = cut(event.text, MAX_RELAY_CHARS)
    await ctx.office.add_event(ref.id, "answer", ctx.now, body=text)
    out: list[Outgoing] = [Reply.of(Msg("citizen.answer.sent", {"code": ref.code}))]
    for to in await ctx.office.tip_handlers(ref.id):
        out.append(
            Deliver.of(
                to,
                Reply.of(
                    Msg("officer.answer", {"code": ref.code, "text": text}),
                    choices=[[Choice(Msg("officer.btn.ask"), _cb(Action.ASK, ref.code))]],
                    html=True,
                    protect=True,
                ),
            )
        )
    return out


# ---- officer actions -----------------------------------------------------------------
async def _officer_command(
    conv: Conversation, actor: Actor, name: str, args: str, ctx: FlowContext
) -> list[Outgoing]:
    office = ctx.office
    # The audit keeps what was asked for (a code, a search), never a question or note.
    target = args.split(maxsplit=1)[0][:64] if args.strip() else None
    await office.audit(ctx.now, f"cmd.{name}", "ok", staff_id=actor.id, target=target)
    if name == "tips":
        lines = await office.search(actor.id, open_only=True)
        return [tip_lines(lines, ctx.places, "officer.none_open")]
    if name == "mine":
        lines = await office.search(actor.id, open_only=True, claimed_by_me=True)
        return [tip_lines(lines, ctx.places, "officer.none_mine")]
    if name == "find":
        return await _find(actor, args, ctx)
    head, _, rest = args.partition(" ")
    code = receipts.normalise_code(head)
    if code is None:
        return [Reply.of(Msg(f"officer.usage.{name}"))]
    if name == "tip":
        return await _view(actor, code, ctx)
    if name == "claim":
        return await _claim(actor, code, ctx)
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
            conv.state = State.STAFF_ASK if name == "ask" else State.STAFF_NOTE
            conv.draft = Draft(target_tip=code)
            return [prompt(conv)]
        if name == "ask":
            return await _ask(actor, code, rest, ctx)
        return await _note(actor, code, rest, ctx)
    return [Reply.of(Msg("hint.unknown_command"))]


async def _officer_choice(
    conv: Conversation | None, actor: Actor, cb: Callback, ctx: FlowContext
) -> list[Outgoing]:
    code_part, _, value = cb.arg.partition(".")
    if cb.action is Action.GROUP_BIND:
        return await _bind_group(actor, code_part, value, ctx)
    code = receipts.normalise_code(code_part)
    if code is None:
        await ctx.office.audit(ctx.now, f"btn.{cb.action.value}", "denied", staff_id=actor.id)
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
        buttons = [
            [Choice(Msg(f"status.{s}"), _cb(Action.STATUS_SET, f"{code}.{s}"))] for s in STATUSES
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
        conv.state = State.STAFF_ASK if cb.action is Action.ASK else State.STAFF_NOTE
        conv.draft = Draft(target_tip=code)
        return [prompt(conv)]
    return [_not_found()]


async def _authorised(actor: Actor, code: str, action: str, ctx: FlowContext) -> TipRef | None:
    """The tip if the actor may act on it; audits the attempt either way."""
    ref = await ctx.office.tip_ref(actor.id, code)
    await ctx.office.audit(
        ctx.now,
        action,
        "ok" if ref else "denied",
        staff_id=actor.id,
        tip_id=ref.id if ref else None,
        target=code,
    )
    return ref


async def _view(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    view = await ctx.office.tip_view(actor.id, code)
    await ctx.office.audit(
        ctx.now,
        "view",
        "ok" if view else "denied",
        staff_id=actor.id,
        tip_id=view.id if view else None,
        target=code,
    )
    if view is None:
        return [_not_found()]
    return list(card(view, ctx.places, title="officer.card.view"))


async def _claim(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.office.claim(actor.id, code, ctx.now)
    if ref is None:
        visible = await _authorised(actor, code, "claim", ctx)
        if visible is None:
            return [_not_found()]
        return [Reply.of(Msg("officer.claim.taken", {"code": code}))]
    await ctx.office.add_event(ref.id, "claim", ctx.now, staff_id=actor.id)
    await ctx.office.audit(ctx.now, "claim", "ok", staff_id=actor.id, tip_id=ref.id, target=code)
    return [
        Reply.of(Msg("officer.claim.done", {"code": code})),
        *await _tell_tipster(ref, ctx),
    ]


async def _set_status(actor: Actor, code: str, status: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.office.set_status(actor.id, code, status, ctx.now)
    if ref is None:
        visible = await _authorised(actor, code, "status", ctx)
        if visible is None:
            return [_not_found()]
        return [
            Reply.of(Msg("officer.status.same", {"code": code, "status": Msg(f"status.{status}")}))
        ]
    await ctx.office.add_event(ref.id, "status", ctx.now, staff_id=actor.id, detail=status)
    await ctx.office.audit(
        ctx.now, f"status.{status}", "ok", staff_id=actor.id, tip_id=ref.id, target=code
    )
    return [
        Reply.of(Msg("officer.status.done", {"code": code, "status": Msg(f"status.{status}")})),
        *await _tell_tipster(ref, ctx),
    ]


async def _tell_tipster(ref: TipRef, ctx: FlowContext) -> list[Outgoing]:
    """A short, generic update to the tipster, in their language (no officer name)."""
    to = await ctx.office.tipster(ref.channel, ref.tipster_key)
    if to is None:
        return []
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
    to = await ctx.office.tipster(ref.channel, ref.tipster_key)
    if to is None:
        return [Reply.of(Msg("officer.ask.unreachable", {"code": code}))]
    question = cut(text.strip(), MAX_RELAY_CHARS)
    await ctx.office.add_event(ref.id, "question", ctx.now, staff_id=actor.id, body=question)
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
    await ctx.office.add_event(
        ref.id, "note", ctx.now, staff_id=actor.id, body=cut(text.strip(), 4000)
    )
    return [Reply.of(Msg("officer.note.saved", {"code": code}))]


async def _thread(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "thread", ctx)
    if ref is None:
        return [_not_found()]
    entries = await ctx.office.thread(ref.id)
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
                    "body": entry.body or "",
                },
            )
        )
    return [Reply.of(*parts, html=True, protect=True)]


async def _transfer_menu(actor: Actor, code: str, ctx: FlowContext) -> list[Outgoing]:
    ref = await _authorised(actor, code, "transfer.menu", ctx)
    if ref is None:
        return [_not_found()]
    units = await ctx.office.list_units()
    buttons = [
        [Choice(Msg("officer.plain", {"text": u.name}), _cb(Action.TRANSFER_TO, f"{code}.{u.id}"))]
        for u in units[:20]
    ]
    return [Reply.of(Msg("officer.transfer.pick", {"code": code}), choices=buttons)]


async def _transfer(actor: Actor, code: str, unit_id: int, ctx: FlowContext) -> list[Outgoing]:
    ref = await ctx.office.transfer(actor.id, code, unit_id, ctx.now, ctx.limits.claim_within)
    await ctx.office.audit(
        ctx.now,
        "transfer",
        "ok" if ref else "denied",
        staff_id=actor.id,
        tip_id=ref.id if ref else None,
        target=f"{code}>{unit_id}",
    )
    if ref is None:
        return [_not_found()]
    await ctx.office.add_event(ref.id, "transfer", ctx.now, staff_id=actor.id, detail=str(unit_id))
    return [Reply.of(Msg("officer.transfer.done", {"code": code, "unit": unit_id}))]


async def _find(actor: Actor, args: str, ctx: FlowContext) -> list[Outgoing]:
    """Search by code, date (YYYY-MM-DD or DD/MM/YYYY), category id or ward name."""
    query = args.strip()
    if not query:
        return [Reply.of(Msg("officer.usage.find"))]
    code = receipts.normalise_code(query)
    day = _parse_day(query)
    kwargs: dict[str, object] = {}
    if code:
        kwargs["code"] = code
    elif day is not None:
        kwargs.update(since=day, until=day + timedelta(days=1))
    elif query.lower() in taxonomy.BY_ID:
        kwargs["categories"] = [query.lower()]
    else:
        wards = [p.code for p in ctx.places.search(query, limit=5)]
        if not wards:
            return [tip_lines([], ctx.places, "officer.none_found")]
        kwargs["wards"] = wards
    lines = await ctx.office.search(actor.id, **kwargs)  # type: ignore[arg-type]
    return [tip_lines(lines, ctx.places, "officer.none_found")]


def _parse_day(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=_VIETNAM)
        except ValueError:
            continue
    return None


async def _own_chat(actor: Actor, event: Event, ctx: FlowContext) -> Recipient | None:
    chats = [c for c in await ctx.office.staff_chats([actor.id]) if c.channel == event.channel]
    return chats[0] if chats else None


def _parse_officer(raw: str | None) -> Callback | None:
    cb = callbacks.parse(raw)
    return cb if cb is not None and cb.action in OFFICER_ACTIONS else None


# ---- joining and administration ------------------------------------------------------
async def _join(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    window = ctx.now - timedelta(hours=1)
    failures = [t for t in conv.flood.failed_checks if t > window]
    if len(failures) >= ctx.limits.status_checks_per_hour:
        return [Reply.of(Msg("check.limited"))]
    code = event.args.strip()
    joined = None
    if code and len(code) <= 40:
        joined = await ctx.office.redeem_invite(
            code,
            channel=event.channel,
            user_key=event.user_key,
            address=ctx.seal(event.address),
            locale=conv.locale,
            now=ctx.now,
        )
    await ctx.office.audit(
        ctx.now,
        "join",
        "ok" if joined else "denied",
        staff_id=joined.id if joined else None,
        actor_key=event.user_key,
    )
    if joined is None:
        conv.flood.failed_checks = [*failures, ctx.now]
        return [Reply.of(Msg("officer.join.invalid"))]
    key = "officer.join.admin" if joined.role == "admin" else "officer.join.done"
    return [Reply.of(Msg(key, {"name": joined.username}))]


async def _admin(actor: Actor, name: str, args: str, ctx: FlowContext) -> list[Outgoing]:
    office = ctx.office
    await office.audit(ctx.now, f"admin.{name}", "ok", staff_id=actor.id, target=args[:64] or None)
    words = args.split()
    if name == "units":
        units = await office.list_units()
        if not units:
            return [Reply.of(Msg("admin.units.none"))]
        lines = [
            Msg(
                "admin.units.line",
                {
                    "id": u.id,
                    "name": u.name,
                    "city": Msg("admin.units.city") if u.city_level else "",
                    "parent": u.parent_id or "-",
                    "group": Msg("admin.units.group") if u.has_group else "",
                },
            )
            for u in units
        ]
        return [Reply.of(Msg("admin.units.title"), *lines)]
    if name == "newunit":
        city = "--city" in words
        parent: int | None = None
        rest: list[str] = []
        it = iter(words)
        for word in it:
            if word == "--city":
                continue
            if word == "--parent":
                value = next(it, "")
                if not value.isdigit() or not await office.unit_exists(int(value)):
                    return [Reply.of(Msg("admin.usage.newunit"))]
                parent = int(value)
                continue
            rest.append(word)
        unit_name = " ".join(rest).strip()[:200]
        if not unit_name:
            return [Reply.of(Msg("admin.usage.newunit"))]
        unit_id = await office.add_unit(
            unit_name, parent_id=parent, city_level=city, wards=[], categories=[], now=ctx.now
        )
        return [Reply.of(Msg("admin.unit.created", {"id": unit_id, "name": unit_name}))]
    if name == "unitwards":
        if not words or not words[0].isdigit() or not await office.unit_exists(int(words[0])):
            return [Reply.of(Msg("admin.usage.unitwards"))]
        found: list[Place] = []
        missing: list[str] = []
        for query in filter(None, (q.strip() for q in " ".join(words[1:]).split(";"))):
            place = ctx.places.named(query)
            if place is not None:
                found.append(place)
            else:
                missing.append(query)
        await office.set_unit_scope(int(words[0]), wards=[p.code for p in found])
        names = ", ".join(p.name for p in found) or "-"
        return [
            Reply.of(
                Msg(
                    "admin.unit.wards",
                    {
                        "id": words[0],
                        "wards": names,
                        "missing": ", ".join(missing) or "-",
                    },
                )
            )
        ]
    if name == "unitcats":
        if not words or not words[0].isdigit() or not await office.unit_exists(int(words[0])):
            return [Reply.of(Msg("admin.usage.unitcats"))]
        cats = [w for w in words[1:] if w in taxonomy.BY_ID]
        await office.set_unit_scope(int(words[0]), categories=cats)
        return [Reply.of(Msg("admin.unit.cats", {"id": words[0], "cats": ", ".join(cats) or "*"}))]
    if name == "invite":
        role = words[0] if words else ""
        target_unit: int | None
        if role == "admin":
            target_unit, who = None, " ".join(words[1:])
        elif role in ("officer", "supervisor") and len(words) >= 2 and words[1].isdigit():
            target_unit, who = int(words[1]), " ".join(words[2:])
            if not await office.unit_exists(target_unit):
                return [Reply.of(Msg("admin.usage.invite"))]
        else:
            return [Reply.of(Msg("admin.usage.invite"))]
        code = await office.create_invite(
            role=role,
            unit_id=target_unit,
            name=account_label(who),
            staff_id=None,
            created_by=actor.id,
            now=ctx.now,
            ttl=ctx.limits.invite_ttl,
        )
        days = int(ctx.limits.invite_ttl.total_seconds() // 86400)
        return [Reply.of(Msg("admin.invite.created", {"code": code, "days": days}))]
    if name == "staff":
        rows = await office.staff_list()
        lines = [
            Msg(
                "admin.staff.line",
                {
                    "name": username,
                    "role": role,
                    "units": ", ".join(units) or "-",
                    "active": "" if active else Msg("admin.staff.inactive"),
                },
            )
            for username, role, active, units in rows
        ]
        return [Reply.of(Msg("admin.staff.title"), *lines)]
    if name == "removestaff":
        if not words or not await office.deactivate_staff(words[0]):
            return [Reply.of(Msg("admin.usage.removestaff"))]
        return [Reply.of(Msg("admin.staff.removed", {"name": words[0]}))]
    return [Reply.of(Msg("hint.unknown_command"))]


async def _bind_group(actor: Actor, group_id: str, unit: str, ctx: FlowContext) -> list[Outgoing]:
    ok = (
        actor.role == "admin"
        and unit.isdigit()
        and await ctx.office.bind_group(group_id, int(unit), actor.id)
    )
    await ctx.office.audit(
        ctx.now,
        "group.bind",
        "ok" if ok else "denied",
        staff_id=actor.id,
        target=f"{group_id}>{unit}",
    )
    if not ok:
        return [Reply.of(Msg("hint.stale_button"))]
    return [Reply.of(Msg("admin.group.bound", {"unit": unit}))]
