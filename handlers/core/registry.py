"""Flows declare what they own; the registry turns those declarations into the router's
lookup tables (by state, by button action, by command, by group event).

A flow is declared once, in its own module, as a `Flow`. Nothing else lists its
states or actions: the router finds the owner of whatever arrives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from handlers.core.callbacks import Action, Callback
from handlers.core.context import FlowContext
from handlers.core.conversation import MENU, Conversation, Flood
from handlers.core.events import Event, EventKind, Outgoing, Reply

Prompt = Callable[[Conversation, FlowContext], Reply]
OnChoice = Callable[[Conversation, Event, Callback, FlowContext], Awaitable[list[Outgoing]]]
# None: "not mine, or not allowed" — answered exactly like an unknown command.
OnCommand = Callable[[Conversation, Event, FlowContext], Awaitable[list[Outgoing] | None]]
OnInput = Callable[[Conversation, Event, FlowContext], Awaitable[list[Outgoing]]]
OnGroup = Callable[[Event, FlowContext], Awaitable[list[Outgoing]]]


@dataclass(frozen=True)
class Flow:
    """One flow's declaration.

    - `states`: the states it owns, each with the question it asks there;
    - `draft`: the type of its draft (read back from storage by the registry);
    - `actions`: the button actions it owns, handled whatever the current state
      (each handler decides whether the press fits);
    - `commands`: the commands it answers;
    - `on_input`: what typed text, media, a location or a contact does in its states;
    - `typed_choices`: in its states, a typed button label (or number) counts as a press;
    - `group`: what it does with events from group chats, by kind.
    """

    name: str
    states: Mapping[str, Prompt] = field(default_factory=dict)
    draft: type[BaseModel] | None = None
    actions: Mapping[Action, OnChoice] = field(default_factory=dict)
    commands: Mapping[str, OnCommand] = field(default_factory=dict)
    on_input: OnInput | None = None
    typed_choices: bool = False
    group: Mapping[EventKind, OnGroup] = field(default_factory=dict)


class Registry:
    """The flows of the service and the lookup tables built from them."""

    def __init__(self, flows: Iterable[Flow], *, home: Flow) -> None:
        self.flows = [home, *(f for f in flows if f is not home)]
        self.home = home
        self.by_state: dict[str, Flow] = {}
        self.by_action: dict[Action, OnChoice] = {}
        self.by_command: dict[str, OnCommand] = {}
        self.by_group: dict[EventKind, OnGroup] = {}
        for flow in self.flows:
            _claim(self.by_state, flow.states, flow, flow.name)
            _claim(self.by_action, flow.actions, None, flow.name)
            _claim(self.by_command, flow.commands, None, flow.name)
            _claim(self.by_group, flow.group, None, flow.name)
        if MENU not in self.by_state:
            raise ValueError("the home flow must own the menu state")

    def flow_of(self, conv: Conversation) -> Flow:
        return self.by_state.get(conv.state, self.home)

    def prompt(self, conv: Conversation, ctx: FlowContext) -> Reply:
        """The question the conversation's current state asks."""
        flow = self.flow_of(conv)
        ask = flow.states.get(conv.state) or self.home.states[MENU]
        return ask(conv, ctx)

    def restore(
        self,
        state: str,
        locale: str | None,
        draft: dict[str, Any] | None,
        flood: dict[str, Any] | None,
        expires_at: datetime | None,
    ) -> Conversation:
        """Rebuild a conversation from stored columns. A state no flow owns (from a
        newer or older deploy) or a draft that no longer reads starts over at the menu."""
        conv = Conversation(
            locale=locale,
            flood=Flood.model_validate(flood) if flood else Flood(),
        )
        flow = self.by_state.get(state)
        if flow is None:
            return conv
        parsed: BaseModel | None = None
        if flow.draft is not None:
            try:
                parsed = flow.draft.model_validate(draft or {})
            except ValidationError:
                return conv
        conv.state, conv.draft, conv.expires_at = state, parsed, expires_at
        return conv


def _claim(table: dict[Any, Any], entries: Mapping[Any, Any], value: Any, owner: str) -> None:
    for key, handler in entries.items():
        if key in table:
            raise ValueError(f"{owner}: {key!r} is already owned by another flow")
        table[key] = handler if value is None else value
