"""Typed, versioned callback data: encoded and parsed here and nowhere else.

Callback data comes from the client and can be forged or replayed, so parsing is strict
and every flow re-checks that the action fits the current state and draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

VERSION = "1"
MAX_BYTES = 64
NO_DRAFT = "-"
_ARG = re.compile(r"^[A-Za-z0-9_.\-]{0,40}$")
_TAG = re.compile(r"^(-|[a-z0-9]{6})$")


class Action(StrEnum):
    MENU = "m"
    LANG = "l"
    # The report flow: one action for every step's buttons (arg: "step.value"), so a
    # step is declared in one place and a press from another step is recognisably stale.
    STEP = "s"
    CANCEL = "x"
    # Officer actions (arg: tip code, or "CODE.value"); always re-authorised on press.
    VIEW = "ov"
    CLAIM = "oc"
    STATUS_MENU = "osm"
    STATUS_SET = "os"
    ASK = "oa"
    NOTE = "on"
    TRANSFER_MENU = "otm"
    TRANSFER_TO = "ot"
    THREAD = "oh"
    GROUP_BIND = "gb"  # arg: "pendingid.unitid"
    # Citizen: answer an officer's question (arg: tip code).
    ANSWER = "ra"
    AMEND = "rm"  # add information to one's own tip (arg: tip code)
    # Awareness messages and data (citizens).
    SUBSCRIBE = "sb"  # arg: yes · no
    TOPIC = "tp"  # arg: topic id or "all"
    SUB_WARD = "sw"  # arg: ward code or "all"
    UNSUBSCRIBE = "us"
    ERASE = "er"  # arg: yes · no
    # Broadcasts (admins; arg: campaign id or "id.choice"), bound to the composing admin.
    AUDIENCE = "au"  # arg: "campaign.topic" (or "campaign.all")
    AUDIENCE_WARD = "aw"  # arg: "campaign.wardcode", "campaign.all" or "campaign.done"
    CAMPAIGN_BUTTON = "cb"  # arg: campaign id; toggles the "report a tip" button
    CAMPAIGN_SEND = "cs"
    CAMPAIGN_SCHEDULE = "cl"
    CAMPAIGN_DROP = "cx"


@dataclass(frozen=True, slots=True)
class Callback:
    action: Action
    arg: str = ""
    tag: str = NO_DRAFT  # the draft the button belongs to; "-" for menus

    def encode(self) -> str:
        raw = f"{VERSION}|{self.tag}|{self.action.value}|{self.arg}"
        if len(raw.encode()) > MAX_BYTES or not _ARG.match(self.arg):
            raise ValueError("callback data out of bounds")
        return raw


def parse(raw: str | None) -> Callback | None:
    """Parse callback data; return None for anything malformed, foreign or stale-format."""
    if not raw or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    pieces = raw.split("|")
    if len(pieces) != 4 or pieces[0] != VERSION:
        return None
    _, tag, action, arg = pieces
    if not _TAG.match(tag) or not _ARG.match(arg):
        return None
    try:
        return Callback(Action(action), arg, tag)
    except ValueError:
        return None
