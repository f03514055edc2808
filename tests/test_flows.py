"""Flow-level tests: the router and the flows called directly over in-memory storage
(`tests/flowkit.py`), in milliseconds. The end-to-end tests drive the same flows
through the pipeline and the channels."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from handlers.citizen import intake
from handlers.citizen.report import ReportDraft
from handlers.core.callbacks import Action
from handlers.core.conversation import MENU
from handlers.core.events import EventKind
from handlers.core.registry import Flow, Registry
from handlers.flows import REGISTRY
from storage.models import Actor
from tests.flowkit import CATALOG, HASHER, FlowWorld


async def report_until_review(w: FlowWorld) -> None:
    await w.say("/start")
    await w.press("Gửi tin báo")
    await w.press("Tệ nạn xã hội")
    await w.press("Ma túy")
    await w.press("Không")
    await w.say("hoan kiem")
    await w.press("Phường Hoàn Kiếm")
    await w.press("Hôm nay")
    await w.say("Có nhóm người mua bán ma túy ở đầu ngõ 12 mỗi tối.")
    await w.press("Xong")
    await w.press("Ẩn danh")


async def test_a_whole_report_is_filed_once_and_routed() -> None:
    w = FlowWorld()
    await report_until_review(w)
    assert w.conv.state == intake.ReportState.REVIEW
    done = await w.press("Gửi tin báo")
    assert "Mã tin báo" in done[-1]
    [tip] = w.tips.tips.values()
    assert (tip.category, tip.category_group, tip.ward_code) == ("drugs", "social_evils", 70)
    assert tip.code in done[-1] and tip.contact_phone is None
    assert w.tips.routed == [(tip.id, 70, "drugs")]
    assert w.conv.state == MENU and w.conv.draft is None
    receipt = "".join(ch for ch in done[-1].split(tip.code, 1)[1] if ch.isdigit())[:16]
    assert await HASHER.verify(tip.receipt_hash, receipt)


async def test_typed_labels_and_numbers_count_as_presses() -> None:
    w = FlowWorld()
    await w.say("/start")
    await w.say("gui tin bao")  # the menu's label typed, without accents
    assert w.conv.state == intake.ReportState.GROUP
    await w.say("2")  # the second group: criminal
    assert w.conv.draft_as(ReportDraft).group == "criminal"


async def test_a_button_from_another_step_or_draft_is_stale() -> None:
    w = FlowWorld()
    await w.say("/start")
    await w.press("Gửi tin báo")
    await w.press("Tội phạm")
    theft = w.button("Trộm cắp")
    await w.press("Trộm cắp")
    replies = await w.send(w.event(EventKind.CHOICE, choice=theft))
    assert "không còn dùng được" in replies[0] and "Bước 2/6" in replies[1]
    await w.say("/cancel")
    await w.press("Gửi tin báo")
    await w.press("Tội phạm")
    replies = await w.send(w.event(EventKind.CHOICE, choice=theft))
    assert w.conv.draft_as(ReportDraft).category is None  # an older draft's button: ignored
    assert "không còn dùng được" in replies[0]


async def test_editing_one_part_returns_to_the_review() -> None:
    w = FlowWorld()
    await report_until_review(w)
    await w.press("✏️ Thời gian")
    assert w.conv.state == intake.ReportState.WHEN
    replies = await w.say("tối qua khoảng 9 giờ")
    assert w.conv.state == intake.ReportState.REVIEW
    assert "tối qua khoảng 9 giờ" in replies[-1]


async def test_wrong_input_re_asks_with_a_hint() -> None:
    w = FlowWorld()
    await w.say("/start")
    await w.press("Gửi tin báo")
    replies = await w.say("something else")
    assert len(replies) == 2 and "Bước 1/6" in replies[1]
    assert w.conv.state == intake.ReportState.GROUP


async def test_a_status_check_needs_code_and_receipt() -> None:
    w = FlowWorld()
    await report_until_review(w)
    done = await w.press("Gửi tin báo")
    [tip] = w.tips.tips.values()
    receipt = "".join(ch for ch in done[-1].split(tip.code, 1)[1] if ch.isdigit())[:16]
    wrong = await w.say(f"/status {tip.code} {'1' * 16}")
    assert "Không tìm thấy" in wrong[0]
    found = await w.say(f"/status {tip.code} {receipt}")
    assert tip.code in found[0] and "Đã tiếp nhận" in found[0]


async def test_subscribing_needs_an_explicit_yes() -> None:
    w = FlowWorld()
    await w.say("/subscribe")
    await w.press("Không, cảm ơn")
    assert w.subscriptions.subs == {}
    await w.say("/subscribe")
    await w.press("Tôi đồng ý")
    await w.press("Ma túy")
    await w.say("ba dinh")
    await w.press("Phường Ba Đình")
    [sub] = w.subscriptions.subs.values()
    assert sub.topics == ["drugs"] and len(sub.wards) == 1
    assert w.subscriptions.consents == ["sub.consent@vi"]
    await w.say("/stop")
    assert w.subscriptions.subs == {}


async def test_staff_commands_from_a_citizen_are_unknown_and_audited() -> None:
    w = FlowWorld()
    replies = await w.say("/tips")
    assert "không rõ lệnh" in replies[0].lower()
    assert w.audit.entries[-1]["action"] == "cmd.tips"
    assert w.audit.entries[-1]["outcome"] == "denied"
    w.staff.actors[("telegram", w.user_key)] = Actor(id="s1", username="officer", role="officer")
    replies = await w.say("/broadcast")  # an officer is not an admin
    assert "không rõ lệnh" in replies[0].lower()


def test_registry_tables_are_built_from_flow_declarations() -> None:
    assert REGISTRY.by_state[intake.ReportState.WHERE.value] is intake.FLOW
    assert REGISTRY.by_command["report"] is intake.FLOW.commands["report"]
    assert REGISTRY.by_action[Action.STEP] is intake.FLOW.actions[Action.STEP]
    owned = [f.name for f in REGISTRY.flows for _ in f.commands]
    assert len(owned) == len(REGISTRY.by_command)  # every command has one owner


def test_two_flows_cannot_own_the_same_command_or_state() -> None:
    home = REGISTRY.home
    clash = Flow(name="clash", commands={"start": intake.FLOW.commands["report"]})
    with pytest.raises(ValueError, match="already owned"):
        Registry([clash], home=home)
    with pytest.raises(ValueError, match="already owned"):
        Registry([intake.FLOW, Flow(name="again", states=dict(intake.FLOW.states))], home=home)


def test_a_stored_conversation_comes_back_typed_or_starts_over() -> None:
    draft = {"tag": "abc234", "group": "criminal", "stale_field": 1}
    conv = REGISTRY.restore("report.category", "vi", draft, None, None)
    assert isinstance(conv.draft, ReportDraft) and conv.draft.group == "criminal"
    assert REGISTRY.restore("no.such.state", "en", draft, None, None).state == MENU
    broken = REGISTRY.restore("report.category", "vi", {"urgent": "maybe"}, None, None)
    assert broken.state == MENU and broken.locale == "vi"


class _Other(BaseModel):
    x: int = 0


async def test_a_flow_handed_another_flows_draft_fails_loudly() -> None:
    w = FlowWorld()
    w.conv.start(intake.ReportState.WHEN, _Other())
    with pytest.raises(Exception, match="ReportDraft"):
        await w.say("hôm qua")


@pytest.mark.parametrize(
    "form",
    [
        "{code} {receipt4}",
        "CODE {code} {receipt4}",
        "{code_lower}{receipt}",
        "{receipt4}\n{code}",
        "{code_spaced} - {receipt_dashed}",
    ],
)
async def test_a_status_check_takes_code_and_receipt_in_any_reasonable_form(form: str) -> None:
    w = FlowWorld()
    await report_until_review(w)
    done = await w.press("Gửi tin báo")
    [tip] = w.tips.tips.values()
    receipt = "".join(ch for ch in done[-1].split(tip.code, 1)[1] if ch.isdigit())[:16]
    receipt4 = " ".join(receipt[i : i + 4] for i in range(0, 16, 4))
    pasted = form.format(
        code=tip.code,
        code_lower=tip.code.lower().replace("-", ""),
        code_spaced=tip.code.replace("-", " "),
        receipt=receipt,
        receipt4=receipt4,
        receipt_dashed=receipt4.replace(" ", "-"),
    )
    await w.say("/status")  # "check a tip": it asks for the code…
    found = await w.say(pasted)  # …and gets both in one paste
    assert tip.code in found[0] and "Đã tiếp nhận" in found[0]
    found = await w.say(f"/status {pasted}")
    assert tip.code in found[0]


@pytest.mark.parametrize(
    "typed",
    ["hoan kiemm", "hoàn kiêm", "Phuong Hoan Kiem", "p. hoan kiem", "P.Hoàn Kiếm", "hoam kiem"],
)
async def test_a_ward_typed_with_a_slip_is_offered_before_it_becomes_an_address(
    typed: str,
) -> None:
    w = FlowWorld()
    await w.say("/start")
    for label in ("Gửi tin báo", "Tệ nạn xã hội", "Ma túy", "Không"):
        await w.press(label)
    offered = await w.say(typed)
    assert w.conv.state == intake.ReportState.WARD_PICK, offered
    await w.press("Phường Hoàn Kiếm")
    assert w.conv.draft_as(ReportDraft).ward_code == 70


async def test_text_that_is_no_ward_is_still_an_address() -> None:
    w = FlowWorld()
    await w.say("/start")
    for label in ("Gửi tin báo", "Tệ nạn xã hội", "Ma túy", "Không"):
        await w.press(label)
    await w.say("trước cổng chợ đêm, cạnh cây xăng")
    draft = w.conv.draft_as(ReportDraft)
    assert draft.address and draft.ward_code is None


async def test_every_step_has_a_way_back_and_out_and_sending_says_what_next() -> None:
    """Issue 11, item 5."""
    w = FlowWorld()
    await w.say("/start")
    walk = [
        ("Gửi tin báo", intake.ReportState.GROUP),
        ("Tệ nạn xã hội", intake.ReportState.CATEGORY),
        ("Ma túy", intake.ReportState.URGENT),
        ("Không", intake.ReportState.WHERE),
    ]
    for label, state in walk:
        await w.press(label)
        assert w.conv.state == state
    await w.say("Số 5 ngõ chợ, gần cổng trường")  # an address: on to "when"
    assert w.conv.state == intake.ReportState.WHEN
    await w.press("Hôm nay")
    await w.say("Có người bán hàng cấm.")
    await w.press("Xong")
    assert w.conv.state == intake.ReportState.CONTACT
    backwards = [
        intake.ReportState.DESCRIBE,
        intake.ReportState.WHEN,
        intake.ReportState.WHERE,
        intake.ReportState.URGENT,
        intake.ReportState.CATEGORY,
        intake.ReportState.GROUP,
    ]
    for state in backwards:
        await w.press("Quay lại")
        assert w.conv.state == state
    assert w.conv.draft_as(ReportDraft).description  # nothing typed was lost on the way
    await w.press("Tệ nạn xã hội")
    await w.press("Ma túy")
    await w.press("Hủy tin báo")
    assert w.conv.state == "menu"
    await report_until_review(w)
    await w.press("Gửi tin báo")
    done = [o for o in w.last if hasattr(o, "choices")][-1]
    labels = [CATALOG.text("vi", c.label) for c in done.flat_choices()]  # type: ignore[union-attr]
    assert "📝 Gửi tin báo" in labels and any("Tra cứu" in label for label in labels)


def test_every_hanoi_ward_is_found_from_a_slip_no_diacritics_and_a_prefix() -> None:
    """Issue 11: fuzzy ward suggestions over all 126 Hanoi units. For each, a doubled
    last letter, the name without diacritics, and "P."/"phuong"/"xa" prefixes still
    offer that ward among the suggestions (ward names are never mapped from the
    pre-2025 map: `vietnam-provinces` 2025.x carries only the new one)."""
    from handlers.core.text import fold
    from handlers.domain.places import gazetteer

    hanoi = gazetteer("ha_noi")
    assert len(hanoi) == 126
    missed = []
    for place in hanoi.all():
        bare = place.folded
        kind = "phuong" if fold(place.name).startswith("phuong") else "xa"
        for typed in (bare + bare[-1], fold(place.name), f"P.{bare}", f"{kind} {bare}"):
            if place not in hanoi.search(typed):
                missed.append((place.name, typed))
    assert missed == []
