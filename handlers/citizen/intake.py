"""The citizen's report flow: category → urgency → place → time → description → contact
→ review → confirm.

Long on purpose: every step is here, in one table, so adding or changing a step
touches this file only (the draft and filing the tip live in `report.py`).

Each step is declared once, in `STEPS`: the question it asks (with its buttons), what
a press, typed text, a location or a contact does there, and the hint for anything
else. A button carries its step's key, so a press from another step is stale. Files
and captions are accepted at every step; "cancel" works at every step.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from handlers.citizen.report import ReportDraft, file_tip, place_msg, when_msg
from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import Conversation
from handlers.core.events import (
    Choice,
    Contact,
    Event,
    EventKind,
    Location,
    Media,
    Msg,
    Outgoing,
    Reply,
)
from handlers.core.registry import Flow
from handlers.core.replies import not_for_this_step
from handlers.core.text import clean_for_storage, cut, is_blank
from handlers.domain import taxonomy
from handlers.domain.phones import parse_vn_phone

REVIEW_DESCRIPTION_UNITS = 900


class ReportState(StrEnum):
    """Persisted values: never rename one."""

    GROUP = "report.group"
    CATEGORY = "report.category"
    URGENT = "report.urgent"
    WHERE = "report.where"
    WARD_PICK = "report.ward_pick"
    WHEN = "report.when"
    DESCRIBE = "report.describe"
    CONTACT = "report.contact"
    REVIEW = "report.review"


Out = list[Outgoing]


class Buttons:
    """Builds one step's buttons: each carries the step's key and the draft's tag."""

    def __init__(self, key: str, draft: ReportDraft) -> None:
        self.key = key
        self.tag = draft.tag

    def __call__(
        self,
        value: str,
        label: str,
        request: Literal["location", "contact"] | None = None,
        **params: str | int | Msg,
    ) -> Choice:
        data = Callback(Action.STEP, f"{self.key}.{value}", self.tag).encode()
        return Choice(Msg(label, params), data, request)

    def cancel(self) -> list[Choice]:
        return [Choice(Msg("btn.cancel"), Callback(Action.CANCEL, "", self.tag).encode())]


@dataclass(frozen=True, slots=True)
class Turn:
    """One answer being handled: the conversation, its draft, the event, the world."""

    conv: Conversation
    draft: ReportDraft
    event: Event
    ctx: FlowContext


@dataclass(frozen=True)
class Step:
    """One step: the question, and what each kind of answer does."""

    key: str  # in the step's button data; short and stable
    ask: Callable[[ReportDraft, FlowContext, Buttons], Reply]
    choose: Callable[[Turn, str], Out | Awaitable[Out]] | None = None
    text: Callable[[Turn, str], Out] | None = None
    location: Callable[[Turn, Location], Out] | None = None
    contact: Callable[[Turn, Contact], Out] | None = None
    hint: str = "hint.pick_button"  # for anything else
    back: ReportState | None = None  # where "back" goes (a way back and out at every step)


# ---- moving between steps ----------------------------------------------------------
def prompt(conv: Conversation, ctx: FlowContext) -> Reply:
    """The question of the conversation's current step, with a way back and out."""
    draft = conv.draft_as(ReportDraft)
    step = STEPS[ReportState(conv.state)]
    b = Buttons(step.key, draft)
    reply = step.ask(draft, ctx, b)
    if step.back is None or draft.editing:
        return reply
    nav = (b("back", "btn.back"), *b.cancel())
    return replace(reply, choices=(*reply.choices, nav))


def _go(t: Turn, state: ReportState) -> Out:
    t.conv.state = state
    return [prompt(t.conv, t.ctx)]


def _advance(t: Turn, nxt: ReportState, before: Out | None = None) -> Out:
    """Go to the next step, or back to the review when the citizen was editing one part."""
    draft = t.draft
    if draft.editing and nxt not in (ReportState.CATEGORY, ReportState.WARD_PICK):
        draft.editing = False
        nxt = ReportState.REVIEW
    if nxt is ReportState.REVIEW:
        t.ctx.minter.reserve(draft.tag)
    t.conv.state = nxt
    return [*(before or []), prompt(t.conv, t.ctx)]


def _hint(t: Turn, key: str, **params: str | int) -> Out:
    return [Reply.of(Msg(key, dict(params))), prompt(t.conv, t.ctx)]


# ---- the steps -----------------------------------------------------------------------
def _ask_group(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    rows = [[b(g.value, f"group.{g.value}")] for g in taxonomy.Group]
    return Reply.of(Msg("report.group.ask"), choices=[*rows, b.cancel()])


def _choose_group(t: Turn, value: str) -> Out:
    if value not in taxonomy.Group.__members__.values():
        return _hint(t, "hint.pick_button")
    t.draft.group = value
    return _go(t, ReportState.CATEGORY)


def _ask_category(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    group = taxonomy.Group(draft.group or taxonomy.Group.OTHER)
    rows = [[b(c.id, f"cat.{c.id}")] for c in taxonomy.in_group(group)]
    return Reply.of(
        Msg("report.category.ask", {"group": Msg(f"group.{group.value}")}), choices=rows
    )


def _choose_category(t: Turn, value: str) -> Out:
    category = taxonomy.BY_ID.get(value)
    if category is None or category.group.value != t.draft.group:
        return _hint(t, "hint.pick_button")
    t.draft.category = category.id
    return _advance(t, ReportState.URGENT)


def _ask_urgent(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    return Reply.of(
        Msg("report.urgent.ask"),
        choices=[[b("yes", "btn.urgent_yes")], [b("no", "btn.urgent_no")]],
    )


def _choose_urgent(t: Turn, value: str) -> Out:
    if value not in ("yes", "no"):
        return _hint(t, "hint.pick_button")
    t.draft.urgent = value == "yes"
    if not t.draft.urgent:
        return _advance(t, ReportState.WHERE)
    category = taxonomy.BY_ID[t.draft.category or "other"]
    numbers = Msg("emergency.line." + category.emergency[0].value)
    extra = [Msg("emergency.line." + n.value) for n in category.emergency[1:]]
    call = Reply.of(Msg("report.urgent.call", {"numbers": numbers}), *extra)
    return _advance(t, ReportState.WHERE, [call])


def _ask_where(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    return Reply.of(
        Msg("report.where.ask", {"province": ctx.places.province_name}),
        choices=[
            [b("gps", "btn.share_location", "location")],
            [b("unknown", "btn.place_unknown")],
        ],
        keyboard="reply",
    )


def _choose_where(t: Turn, value: str) -> Out:
    if value == "unknown":
        t.draft.clear_place()
        t.draft.location_unknown = True
        return _advance(t, ReportState.WHEN)
    # "gps" pressed on a client that cannot share a location: explain the alternatives.
    return _hint(t, "hint.where")


def _located(t: Turn, place: Location) -> Out:
    t.conv.state = ReportState.WHERE
    t.draft.clear_place()
    t.draft.latitude, t.draft.longitude = place.latitude, place.longitude
    if place.label:
        t.draft.location_label = cut(clean_for_storage(place.label), 300)
    return _advance(t, ReportState.WHEN, [Reply.of(Msg("report.where.got_location"))])


def _typed_place(t: Turn, text: str) -> Out:
    t.conv.state = ReportState.WHERE
    if is_blank(text):
        return _hint(t, "hint.where")
    typed = cut(clean_for_storage(text.strip()), 500)
    matches = t.ctx.places.search(typed)
    if not matches:
        t.draft.clear_place()
        t.draft.address = typed
        reply = Reply.of(Msg("report.where.address_only", {"address": typed}))
        return _advance(t, ReportState.WHEN, [reply])
    t.draft.ward_matches = [p.code for p in matches]
    t.draft.typed_place = typed
    return _go(t, ReportState.WARD_PICK)


def _ask_ward(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    rows = []
    for code in draft.ward_matches:
        place = ctx.places.get(code)
        if place:
            rows.append([b(str(code), "btn.ward", name=place.name)])
    rows.append([b("address", "btn.use_as_address")])
    rows.append([b("again", "btn.search_again")])
    return Reply.of(Msg("report.ward.pick", {"typed": draft.typed_place or ""}), choices=rows)


def _choose_ward(t: Turn, value: str) -> Out:
    if value == "again":
        return _go(t, ReportState.WHERE)
    typed = t.draft.typed_place
    if value == "address":
        t.draft.clear_place()
        t.draft.address = typed
    elif value.isdigit() and int(value) in t.draft.ward_matches:
        t.draft.clear_place()
        t.draft.ward_code = int(value)
        place = t.ctx.places.get(t.draft.ward_code)
        if place and len(typed or "") > len(place.folded) + 6:
            t.draft.address = typed  # they typed a street address that names the ward
    else:
        return _hint(t, "hint.pick_button")
    t.draft.ward_matches, t.draft.typed_place = [], None
    return _advance(t, ReportState.WHEN)


def _ask_when(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    row = [b("now", "when.now"), b("today", "when.today"), b("earlier", "when.earlier")]
    return Reply.of(Msg("report.when.ask"), choices=[row])


def _choose_when(t: Turn, value: str) -> Out:
    if value not in ("now", "today", "earlier"):
        return _hint(t, "hint.when")
    t.draft.occurred, t.draft.occurred_text = value, None
    return _advance(t, ReportState.DESCRIBE)


def _typed_when(t: Turn, text: str) -> Out:
    if is_blank(text):
        return _hint(t, "hint.when")
    t.draft.occurred, t.draft.occurred_text = "text", cut(clean_for_storage(text), 200)
    return _advance(t, ReportState.DESCRIBE)


def _ask_describe(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    if not (draft.description or draft.attachments):
        return Reply.of(Msg("report.describe.ask"))
    return Reply.of(
        Msg(
            "report.describe.more",
            {"chars": len(draft.description), "files": len(draft.attachments)},
        ),
        choices=[[b("done", "btn.done")]],
    )


def _choose_describe(t: Turn, value: str) -> Out:
    if is_blank(t.draft.description) and not t.draft.attachments:
        return _hint(t, "hint.describe_empty")
    return _advance(t, ReportState.CONTACT)


def _typed_description(t: Turn, text: str) -> Out:
    if is_blank(text):
        return _hint(t, "hint.describe_empty")
    text = clean_for_storage(text)
    if len(t.draft.description) + len(text) > t.ctx.limits.max_description_chars:
        return _hint(t, "hint.describe_too_long", max=t.ctx.limits.max_description_chars)
    t.draft.add_text(text)
    return [prompt(t.conv, t.ctx)]


def _ask_contact(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
    return Reply.of(
        Msg("report.contact.ask"),
        choices=[
            [b("share", "btn.share_phone", "contact")],
            [b("anon", "btn.anonymous")],
        ],
        keyboard="reply",
    )


def _choose_contact(t: Turn, value: str) -> Out:
    if value != "anon":  # "share" pressed where a contact cannot be shared: type it
        return _hint(t, "hint.phone_invalid")
    t.draft.contact_phone, t.draft.contact_set = None, True
    return _advance(t, ReportState.REVIEW)


def _shared_contact(t: Turn, contact: Contact) -> Out:
    if not contact.is_own:
        return _hint(t, "hint.contact_not_own")
    t.draft.contact_phone = parse_vn_phone(contact.phone) or contact.phone[:32]
    t.draft.contact_set = True
    return _advance(t, ReportState.REVIEW)


def _typed_phone(t: Turn, text: str) -> Out:
    phone = parse_vn_phone(text) if text else None
    if phone is None:
        return _hint(t, "hint.phone_invalid" if text else "hint.pick_button")
    t.draft.contact_phone, t.draft.contact_set = phone, True
    return _advance(t, ReportState.REVIEW)


_EDIT_TARGETS = {
    "category": ReportState.GROUP,
    "urgent": ReportState.URGENT,
    "place": ReportState.WHERE,
    "when": ReportState.WHEN,
    "description": ReportState.DESCRIBE,
    "contact": ReportState.CONTACT,
}


def _ask_review(draft: ReportDraft, ctx: FlowContext, b: Buttons) -> Reply:
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
            "place": place_msg(draft, ctx.places),
            "when": when_msg(draft),
            "description": description,
            "files": len(draft.attachments),
            "contact": contact,
        },
    )
    edits = [b(f"edit-{part}", f"btn.edit_{part}") for part in _EDIT_TARGETS]
    rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
    rows.append([b("confirm", "btn.confirm")])
    rows.append(b.cancel())
    return Reply.of(summary, choices=rows, once=True)


def _choose_review(t: Turn, value: str) -> Out | Awaitable[Out]:
    if value == "confirm":
        return _submit(t)
    part = value.removeprefix("edit-")
    if part in _EDIT_TARGETS:
        t.draft.editing = True
        if part == "description":
            t.draft.description = ""  # the next text replaces it; files stay attached
        return _go(t, _EDIT_TARGETS[part])
    return _hint(t, "hint.pick_button")


STEPS: dict[ReportState, Step] = {
    ReportState.GROUP: Step("group", _ask_group, choose=_choose_group),
    ReportState.CATEGORY: Step(
        "category", _ask_category, choose=_choose_category, back=ReportState.GROUP
    ),
    ReportState.URGENT: Step(
        "urgent", _ask_urgent, choose=_choose_urgent, back=ReportState.CATEGORY
    ),
    ReportState.WHERE: Step(
        "where",
        _ask_where,
        choose=_choose_where,
        text=_typed_place,
        location=_located,
        hint="hint.where",
        back=ReportState.URGENT,
    ),
    ReportState.WARD_PICK: Step(
        "ward",
        _ask_ward,
        choose=_choose_ward,
        text=_typed_place,
        location=_located,
        back=ReportState.WHERE,
    ),
    ReportState.WHEN: Step(
        "when",
        _ask_when,
        choose=_choose_when,
        text=_typed_when,
        hint="hint.when",
        back=ReportState.WHERE,
    ),
    ReportState.DESCRIBE: Step(
        "describe",
        _ask_describe,
        choose=_choose_describe,
        text=_typed_description,
        hint="hint.describe",
        back=ReportState.WHEN,
    ),
    ReportState.CONTACT: Step(
        "contact",
        _ask_contact,
        choose=_choose_contact,
        text=_typed_phone,
        contact=_shared_contact,
        back=ReportState.DESCRIBE,
    ),
    ReportState.REVIEW: Step("review", _ask_review, choose=_choose_review),
}


# ---- entry points --------------------------------------------------------------------
def in_progress(conv: Conversation) -> bool:
    return conv.state in STATES and isinstance(conv.draft, ReportDraft)


def start(conv: Conversation, ctx: FlowContext) -> Out:
    """Begin a new report."""
    conv.start(ReportState.GROUP, ReportDraft())
    return [prompt(conv, ctx)]


def resume(conv: Conversation, ctx: FlowContext) -> Out:
    """Never throw a draft away by accident: go back to where it was."""
    return [Reply.of(Msg("report.resume")), prompt(conv, ctx)]


async def _report_command(conv: Conversation, event: Event, ctx: FlowContext) -> Out | None:
    return resume(conv, ctx) if in_progress(conv) else start(conv, ctx)


async def _on_step(conv: Conversation, event: Event, cb: Callback, ctx: FlowContext) -> Out:
    """A button of the report flow: it must belong to the current draft and step."""
    step = STEPS.get(ReportState(conv.state)) if conv.state in STATES else None
    draft = conv.draft if isinstance(conv.draft, ReportDraft) else None
    key, _, value = cb.arg.partition(".")
    if step is None or draft is None or cb.tag != draft.tag or key != step.key or not step.choose:
        return [Reply.of(Msg("hint.stale_button")), ctx.prompt(conv)]
    if value == "back" and step.back is not None:
        conv.state = step.back
        return [prompt(conv, ctx)]
    answer = step.choose(Turn(conv, draft, event, ctx), value)
    return await answer if inspect.isawaitable(answer) else answer


async def _on_cancel(conv: Conversation, event: Event, cb: Callback, ctx: FlowContext) -> Out:
    if not in_progress(conv) or cb.tag != conv.draft_as(ReportDraft).tag:
        return [Reply.of(Msg("hint.stale_button")), ctx.prompt(conv)]
    conv.reset()
    return [Reply.of(Msg("report.cancelled"))]


async def on_input(conv: Conversation, event: Event, ctx: FlowContext) -> Out:
    """Typed text, a file, a location or a contact at the current step."""
    t = Turn(conv, conv.draft_as(ReportDraft), event, ctx)
    if event.kind is EventKind.MEDIA and event.media is not None:
        return _attach(t, event.media, event.text)
    unreadable = not_for_this_step(conv, event, ctx)
    if unreadable is not None:
        return unreadable
    step = STEPS[ReportState(conv.state)]
    if event.kind is EventKind.TEXT and step.text is not None:
        return step.text(t, event.text or "")
    if event.kind is EventKind.LOCATION and event.location and step.location is not None:
        return step.location(t, event.location)
    if event.kind is EventKind.CONTACT and event.contact and step.contact is not None:
        return step.contact(t, event.contact)
    return _hint(t, step.hint)


def _attach(t: Turn, media: Media, caption: str | None) -> Out:
    draft, ctx = t.draft, t.ctx
    if len(draft.attachments) >= ctx.limits.max_attachments:
        return _hint(t, "hint.too_many_files", max=ctx.limits.max_attachments)
    draft.add_file(media, caption)
    out: Out = []
    if media.too_large:
        out.append(Reply.of(Msg("report.file_too_large", {"mb": ctx.limits.max_download_mb})))
    if media.group:
        if media.group in draft.albums_seen:
            return out  # one answer per album, not one per photo
        draft.albums_seen.append(media.group)
    if t.conv.state == ReportState.DESCRIBE:
        return [*out, prompt(t.conv, ctx)]
    return [*out, Reply.of(Msg("report.file_attached")), prompt(t.conv, ctx)]


async def _submit(t: Turn) -> Out:
    conv, draft, event, ctx = t.conv, t.draft, t.event, t.ctx
    missing = draft.missing()
    if missing:
        draft.editing = True
        conv.state = _EDIT_TARGETS[missing[0]]
        return [Reply.of(Msg("hint.review_incomplete")), prompt(conv, ctx)]
    if not ctx.quota.allow(event.user_key, ctx.now, ctx.limits.tips_per_hour):
        return [Reply.of(Msg("report.limit", {"max": ctx.limits.tips_per_hour})), prompt(conv, ctx)]
    code, receipt = await file_tip(draft, event, conv.locale or "vi", ctx)
    conv.reset()
    # And what next: the menu's choices, under the receipt itself.
    menu = ctx.prompt(conv)
    done = Msg("report.done", {"code": code, "receipt": receipt})
    return [Reply(parts=(done,), choices=menu.choices, once=True)]


STATES = frozenset(s.value for s in ReportState)

FLOW = Flow(
    name="report",
    states={state.value: prompt for state in ReportState},
    draft=ReportDraft,
    actions={Action.STEP: _on_step, Action.CANCEL: _on_cancel},
    commands={"report": _report_command, "new": _report_command},
    on_input=on_input,
    typed_choices=True,
)
