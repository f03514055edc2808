"""The citizen's report flow: category → urgency → place → time → description → contact
→ review → confirm. Each step returns the replies it causes; wrong input re-asks with a
hint. `prompt()` gives the question for a state, so re-asking is always the same text.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Literal

from handlers import receipts, taxonomy
from handlers.callbacks import Action, Callback
from handlers.context import FlowContext
from handlers.conversation import Conversation, Draft, State
from handlers.events import Choice, Event, EventKind, Media, Msg, Outgoing, Reply
from handlers.phones import parse_vn_phone
from handlers.text import clean_for_storage, cut, is_blank
from storage.models import NewAttachment, NewTip

REVIEW_DESCRIPTION_UNITS = 900

# Which buttons belong to which step: a press from another step is stale.
ACTIONS: dict[State, frozenset[Action]] = {
    State.GROUP: frozenset({Action.GROUP}),
    State.CATEGORY: frozenset({Action.CATEGORY, Action.BACK}),
    State.URGENT: frozenset({Action.URGENT}),
    State.WHERE: frozenset({Action.WHERE}),
    State.WARD_PICK: frozenset({Action.WARD, Action.WHERE}),
    State.WHEN: frozenset({Action.WHEN}),
    State.DESCRIBE: frozenset({Action.DONE}),
    State.CONTACT: frozenset({Action.CONTACT}),
    State.REVIEW: frozenset({Action.EDIT, Action.CONFIRM}),
}


def accepts(state: State, action: Action) -> bool:
    """True if a button with this action can be pressed at this step (cancel: always)."""
    return action is Action.CANCEL or action in ACTIONS.get(state, frozenset())


def _choice(
    key: str,
    draft: Draft | None,
    action: Action,
    arg: str = "",
    request: Literal["location", "contact"] | None = None,
    **params: str | int | Msg,
) -> Choice:
    tag = draft.tag if draft else "-"
    return Choice(Msg(key, params), Callback(action, arg, tag).encode(), request)


def _cancel_row(draft: Draft) -> list[Choice]:
    return [_choice("btn.cancel", draft, Action.CANCEL)]


def prompt(conv: Conversation, ctx: FlowContext) -> Reply:
    """Return the question for the conversation's current state."""
    draft = conv.draft or Draft()
    state = conv.state
    if state is State.GROUP:
        rows = [[_choice(f"group.{g.value}", draft, Action.GROUP, g.value)] for g in taxonomy.Group]
        return Reply.of(Msg("report.group.ask"), choices=[*rows, _cancel_row(draft)])
    if state is State.CATEGORY:
        group = taxonomy.Group(draft.group or taxonomy.Group.OTHER)
        rows = [
            [_choice(f"cat.{c.id}", draft, Action.CATEGORY, c.id)] for c in taxonomy.in_group(group)
        ]
        rows.append([_choice("btn.back", draft, Action.BACK)])
        return Reply.of(
            Msg("report.category.ask", {"group": Msg(f"group.{group.value}")}), choices=rows
        )
    if state is State.URGENT:
        return Reply.of(
            Msg("report.urgent.ask"),
            choices=[
                [_choice("btn.urgent_yes", draft, Action.URGENT, "yes")],
                [_choice("btn.urgent_no", draft, Action.URGENT, "no")],
            ],
        )
    if state is State.WHERE:
        return Reply.of(
            Msg("report.where.ask", {"province": ctx.places.province_name}),
            choices=[
                [_choice("btn.share_location", draft, Action.WHERE, "gps", "location")],
                [_choice("btn.place_unknown", draft, Action.WHERE, "unknown")],
            ],
            keyboard="reply",
        )
    if state is State.WARD_PICK:
        rows = []
        for code in draft.ward_matches:
            place = ctx.places.get(code)
            if place:
                rows.append([_choice("btn.ward", draft, Action.WARD, str(code), name=place.name)])
        rows.append([_choice("btn.use_as_address", draft, Action.WHERE, "address")])
        rows.append([_choice("btn.search_again", draft, Action.WHERE, "again")])
        return Reply.of(Msg("report.ward.pick", {"typed": draft.typed_place or ""}), choices=rows)
    if state is State.WHEN:
        return Reply.of(
            Msg("report.when.ask"),
            choices=[
                [
                    _choice("when.now", draft, Action.WHEN, "now"),
                    _choice("when.today", draft, Action.WHEN, "today"),
                    _choice("when.earlier", draft, Action.WHEN, "earlier"),
                ],
            ],
        )
    if state is State.DESCRIBE:
        if draft.description or draft.attachments:
            return _describe_more(draft)
        return Reply.of(Msg("report.describe.ask"))
    if state is State.CONTACT:
        return Reply.of(
            Msg("report.contact.ask"),
            choices=[
                [_choice("btn.share_phone", draft, Action.CONTACT, "share", "contact")],
                [_choice("btn.anonymous", draft, Action.CONTACT, "anon")],
            ],
            keyboard="reply",
        )
    if state is State.REVIEW:
        return _review(draft, ctx)
    raise ValueError(f"no report prompt for {state}")


def _describe_more(draft: Draft) -> Reply:
    return Reply.of(
        Msg(
            "report.describe.more",
            {"chars": len(draft.description), "files": len(draft.attachments)},
        ),
        choices=[[_choice("btn.done", draft, Action.DONE)]],
    )


def _place_msg(draft: Draft, ctx: FlowContext) -> Msg:
    if draft.latitude is not None and draft.longitude is not None:
        return Msg(
            "place.gps",
            {
                "lat": f"{draft.latitude:.5f}",
                "lon": f"{draft.longitude:.5f}",
                "label": draft.location_label or "",
            },
        )
    if draft.ward_code:
        place = ctx.places.get(draft.ward_code)
        name = place.name if place else str(draft.ward_code)
        if draft.address:
            return Msg("place.ward_address", {"ward": name, "address": draft.address})
        return Msg("place.ward", {"ward": name})
    if draft.address:
        return Msg("place.address", {"address": draft.address})
    return Msg("place.unknown")


def _when_msg(draft: Draft) -> Msg:
    if draft.occurred == "text":
        return Msg("when.text", {"text": draft.occurred_text or ""})
    return Msg(f"when.{draft.occurred or 'now'}")


def _review(draft: Draft, ctx: FlowContext) -> Reply:
    category = Msg(f"cat.{draft.category}") if draft.category else Msg("review.missing")
    description = cut(draft.description, REVIEW_DESCRIPTION_UNITS) if draft.description else "—"
    contact = (
        Msg("review.contact_phone", {"phone": draft.contact_phone})
        if draft.contact_phone
        else Msg("review.contact_anonymous")
    )
    summary = Msg(
        "report.review",
        {
            "category": category,
            "urgent": Msg("review.urgent_yes" if draft.urgent else "review.urgent_no"),
            "place": _place_msg(draft, ctx),
            "when": _when_msg(draft),
            "description": description,
            "files": len(draft.attachments),
            "contact": contact,
        },
    )
    edit = [
        ("category", "btn.edit_category"),
        ("urgent", "btn.edit_urgent"),
        ("place", "btn.edit_place"),
        ("when", "btn.edit_when"),
        ("description", "btn.edit_description"),
        ("contact", "btn.edit_contact"),
    ]
    rows = [
        [
            _choice(edit[i][1], draft, Action.EDIT, edit[i][0]),
            _choice(edit[i + 1][1], draft, Action.EDIT, edit[i + 1][0]),
        ]
        for i in range(0, len(edit), 2)
    ]
    rows.append([_choice("btn.confirm", draft, Action.CONFIRM)])
    rows.append([_choice("btn.cancel", draft, Action.CANCEL)])
    return Reply.of(summary, choices=rows)


def start(conv: Conversation, ctx: FlowContext) -> list[Outgoing]:
    """Begin a new report."""
    conv.draft = Draft()
    conv.state = State.GROUP
    return [prompt(conv, ctx)]


def _advance(
    conv: Conversation, ctx: FlowContext, nxt: State, before: list[Outgoing] | None = None
) -> list[Outgoing]:
    """Go to the next step, or back to the review when the citizen was editing one part."""
    assert conv.draft is not None
    if conv.draft.editing and nxt not in (State.CATEGORY, State.WARD_PICK):
        conv.draft.editing = False
        nxt = State.REVIEW
    if nxt is State.REVIEW:
        ctx.minter.reserve(conv.draft.tag)
    conv.state = nxt
    return [*(before or []), prompt(conv, ctx)]


def _hint(conv: Conversation, ctx: FlowContext, key: str, **params: str | int) -> list[Outgoing]:
    return [Reply.of(Msg(key, dict(params))), prompt(conv, ctx)]


async def on_event(
    conv: Conversation, event: Event, cb: Callback | None, ctx: FlowContext
) -> list[Outgoing]:
    """Handle one event in a report state; `cb` is the parsed choice, if any."""
    assert conv.draft is not None
    draft = conv.draft
    state = conv.state

    if event.kind is EventKind.MEDIA and event.media is not None:
        return _attach(conv, event.media, event.text, ctx)

    if cb is not None and cb.action is Action.CANCEL:
        conv.reset()
        return [Reply.of(Msg("report.cancelled"))]

    if state is State.GROUP:
        if cb and cb.action is Action.GROUP and cb.arg in taxonomy.Group.__members__.values():
            draft.group = cb.arg
            conv.state = State.CATEGORY
            return [prompt(conv, ctx)]
        return _hint(conv, ctx, "hint.pick_button")

    if state is State.CATEGORY:
        if cb and cb.action is Action.BACK:
            conv.state = State.GROUP
            return [prompt(conv, ctx)]
        category = taxonomy.BY_ID.get(cb.arg) if cb and cb.action is Action.CATEGORY else None
        if category is None or category.group.value != draft.group:
            return _hint(conv, ctx, "hint.pick_button")
        draft.category = category.id
        return _advance(conv, ctx, State.URGENT)

    if state is State.URGENT:
        if not cb or cb.action is not Action.URGENT or cb.arg not in ("yes", "no"):
            return _hint(conv, ctx, "hint.pick_button")
        draft.urgent = cb.arg == "yes"
        if draft.urgent:
            category = taxonomy.BY_ID[draft.category or "other"]
            numbers = Msg("emergency.line." + category.emergency[0].value)
            extra = [Msg("emergency.line." + n.value) for n in category.emergency[1:]]
            call = Reply.of(Msg("report.urgent.call", {"numbers": numbers}), *extra)
            return _advance(conv, ctx, State.WHERE, [call])
        return _advance(conv, ctx, State.WHERE)

    if state is State.WHERE:
        return _on_where(conv, event, cb, ctx)

    if state is State.WARD_PICK:
        if (
            cb
            and cb.action is Action.WARD
            and cb.arg.isdigit()
            and int(cb.arg) in draft.ward_matches
        ):
            _clear_place(draft)
            draft.ward_code = int(cb.arg)
            place = ctx.places.get(draft.ward_code)
            typed = draft.typed_place or ""
            if place and len(typed) > len(place.folded) + 6:
                draft.address = typed  # they typed a street address that names the ward
            draft.ward_matches, draft.typed_place = [], None
            return _advance(conv, ctx, State.WHEN)
        if cb and cb.action is Action.WHERE and cb.arg == "address":
            as_typed = draft.typed_place
            _clear_place(draft)
            draft.address = as_typed
            draft.ward_matches, draft.typed_place = [], None
            return _advance(conv, ctx, State.WHEN)
        if cb and cb.action is Action.WHERE and cb.arg == "again":
            conv.state = State.WHERE
            return [prompt(conv, ctx)]
        if event.kind is EventKind.TEXT or event.kind is EventKind.LOCATION:
            conv.state = State.WHERE
            return _on_where(conv, event, None, ctx)
        return _hint(conv, ctx, "hint.pick_button")

    if state is State.WHEN:
        if cb and cb.action is Action.WHEN and cb.arg in ("now", "today", "earlier"):
            draft.occurred, draft.occurred_text = cb.arg, None
            return _advance(conv, ctx, State.DESCRIBE)
        if event.kind is EventKind.TEXT and not is_blank(event.text):
            assert event.text is not None
            draft.occurred, draft.occurred_text = "text", cut(clean_for_storage(event.text), 200)
            return _advance(conv, ctx, State.DESCRIBE)
        return _hint(conv, ctx, "hint.when")

    if state is State.DESCRIBE:
        return _on_describe(conv, event, cb, ctx)

    if state is State.CONTACT:
        return _on_contact(conv, event, cb, ctx)

    if state is State.REVIEW:
        return await _on_review(conv, event, cb, ctx)

    raise ValueError(f"not a report state: {state}")


def _clear_place(draft: Draft) -> None:
    draft.ward_code = draft.address = draft.location_label = None
    draft.latitude = draft.longitude = None
    draft.location_unknown = False


def _on_where(
    conv: Conversation, event: Event, cb: Callback | None, ctx: FlowContext
) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    if event.kind is EventKind.LOCATION and event.location is not None:
        _clear_place(draft)
        draft.latitude, draft.longitude = event.location.latitude, event.location.longitude
        if event.location.label:
            draft.location_label = cut(clean_for_storage(event.location.label), 300)
        return _advance(conv, ctx, State.WHEN, [Reply.of(Msg("report.where.got_location"))])
    if cb and cb.action is Action.WHERE and cb.arg == "unknown":
        _clear_place(draft)
        draft.location_unknown = True
        return _advance(conv, ctx, State.WHEN)
    if cb and cb.action is Action.WHERE and cb.arg == "gps":
        # A client that cannot share location pressed the button: explain the alternatives.
        return _hint(conv, ctx, "hint.where")
    if event.kind is EventKind.TEXT and not is_blank(event.text):
        assert event.text is not None
        typed = cut(clean_for_storage(event.text.strip()), 500)
        matches = ctx.places.search(typed)
        if not matches:
            _clear_place(draft)
            draft.address = typed
            return _advance(
                conv,
                ctx,
                State.WHEN,
                [Reply.of(Msg("report.where.address_only", {"address": typed}))],
            )
        draft.ward_matches = [p.code for p in matches]
        draft.typed_place = typed
        conv.state = State.WARD_PICK
        return [prompt(conv, ctx)]
    return _hint(conv, ctx, "hint.where")


def _attach(
    conv: Conversation, media: Media, caption: str | None, ctx: FlowContext
) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    if len(draft.attachments) >= ctx.limits.max_attachments:
        return _hint(conv, ctx, "hint.too_many_files", max=ctx.limits.max_attachments)
    draft.attachments.append(
        NewAttachment(
            kind=media.kind,
            file_ref=media.file_ref,
            file_unique_id=media.file_unique_id,
            file_size=media.size,
            mime_type=media.mime_type,
            file_name=clean_for_storage(media.file_name) if media.file_name else None,
            media_group=media.group,
            too_large=media.too_large,
        )
    )
    if caption and not is_blank(caption):
        _append_description(draft, clean_for_storage(caption))
    out: list[Outgoing] = []
    if media.too_large:
        out.append(Reply.of(Msg("report.file_too_large", {"mb": ctx.limits.max_download_mb})))
    if media.group:
        if media.group in draft.albums_seen:
            return out  # one answer per album, not one per photo
        draft.albums_seen.append(media.group)
    if conv.state is State.DESCRIBE:
        return [*out, _describe_more(draft)]
    return [*out, Reply.of(Msg("report.file_attached")), prompt(conv, ctx)]


def _append_description(draft: Draft, text: str) -> None:
    draft.description = f"{draft.description}\n\n{text}" if draft.description else text


def _on_describe(
    conv: Conversation, event: Event, cb: Callback | None, ctx: FlowContext
) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    if cb and cb.action is Action.DONE:
        if is_blank(draft.description) and not draft.attachments:
            return _hint(conv, ctx, "hint.describe_empty")
        return _advance(conv, ctx, State.CONTACT)
    if event.kind is EventKind.TEXT:
        if is_blank(event.text):
            return _hint(conv, ctx, "hint.describe_empty")
        assert event.text is not None
        text = clean_for_storage(event.text)
        if len(draft.description) + len(text) > ctx.limits.max_description_chars:
            return _hint(conv, ctx, "hint.describe_too_long", max=ctx.limits.max_description_chars)
        _append_description(draft, text)
        return [_describe_more(draft)]
    return _hint(conv, ctx, "hint.describe")


def _on_contact(
    conv: Conversation, event: Event, cb: Callback | None, ctx: FlowContext
) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    if cb and cb.action is Action.CONTACT and cb.arg == "anon":
        draft.contact_phone, draft.contact_set = None, True
        return _advance(conv, ctx, State.REVIEW)
    if event.kind is EventKind.CONTACT and event.contact is not None:
        if not event.contact.is_own:
            return _hint(conv, ctx, "hint.contact_not_own")
        shared = parse_vn_phone(event.contact.phone) or event.contact.phone[:32]
        draft.contact_phone, draft.contact_set = shared, True
        return _advance(conv, ctx, State.REVIEW)
    if event.kind is EventKind.TEXT and event.text:
        phone = parse_vn_phone(event.text)
        if phone is None:
            return _hint(conv, ctx, "hint.phone_invalid")
        draft.contact_phone, draft.contact_set = phone, True
        return _advance(conv, ctx, State.REVIEW)
    if cb and cb.action is Action.CONTACT and cb.arg == "share":
        return _hint(conv, ctx, "hint.phone_invalid")
    return _hint(conv, ctx, "hint.pick_button")


_EDIT_TARGETS = {
    "category": State.GROUP,
    "urgent": State.URGENT,
    "place": State.WHERE,
    "when": State.WHEN,
    "description": State.DESCRIBE,
    "contact": State.CONTACT,
}


async def _on_review(
    conv: Conversation, event: Event, cb: Callback | None, ctx: FlowContext
) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    if cb and cb.action is Action.EDIT and cb.arg in _EDIT_TARGETS:
        draft.editing = True
        if cb.arg == "description":
            draft.description = ""  # the next text replaces it; files stay attached
        conv.state = _EDIT_TARGETS[cb.arg]
        return [prompt(conv, ctx)]
    if cb and cb.action is Action.CONFIRM:
        return await _submit(conv, event, ctx)
    return _hint(conv, ctx, "hint.pick_button")


async def _submit(conv: Conversation, event: Event, ctx: FlowContext) -> list[Outgoing]:
    draft = conv.draft
    assert draft is not None
    missing = [
        part
        for part, ok in (
            ("category", draft.category),
            ("place", draft.has_place()),
            ("when", draft.occurred),
            ("description", draft.description or draft.attachments),
        )
        if not ok
    ]
    if missing:
        draft.editing = True
        conv.state = _EDIT_TARGETS[missing[0]]
        return [Reply.of(Msg("hint.review_incomplete")), prompt(conv, ctx)]
    since = ctx.now - timedelta(hours=1)
    if await ctx.tips.count_tips_since(event.user_key, since) >= ctx.limits.tips_per_hour:
        return [Reply.of(Msg("report.limit", {"max": ctx.limits.tips_per_hour})), prompt(conv, ctx)]
    category = taxonomy.BY_ID[draft.category or "other"]
    code = receipts.new_code()
    receipt, receipt_hash = await ctx.minter.take(draft.tag)
    tip_id = str(uuid.uuid4())
    urgent = bool(draft.urgent)
    added = await ctx.tips.add_tip(
        NewTip(
            id=tip_id,
            code=code,
            receipt_hash=receipt_hash,
            submission_key=f"{event.channel}:{event.user_key}:{draft.tag}",
            channel=event.channel,
            tipster_key=event.user_key,
            locale=conv.locale or "vi",
            category_group=category.group.value,
            category=category.id,
            urgent=urgent,
            province_code=ctx.places.province_code if draft.ward_code else None,
            ward_code=draft.ward_code,
            address_text=draft.address,
            latitude=draft.latitude,
            longitude=draft.longitude,
            location_label=draft.location_label,
            occurred=draft.occurred or "now",
            occurred_text=draft.occurred_text,
            description=draft.description,
            contact_phone=draft.contact_phone,
            created_at=ctx.now,
            attachments=draft.attachments,
        )
    )
    if added:  # a replayed submission was routed the first time
        await ctx.office.route_tip(
            tip_id,
            ward_code=draft.ward_code,
            category=category.id,
            urgent=urgent,
            now=ctx.now,
            claim_within=ctx.limits.claim_urgent_within if urgent else ctx.limits.claim_within,
        )
    conv.reset()
    return [
        Reply.of(Msg("report.done", {"code": code, "receipt": receipts.format_receipt(receipt)}))
    ]
