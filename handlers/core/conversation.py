"""Conversation state, persisted by the pipeline after every event.

The state is a string owned by one flow (each flow declares its states as a StrEnum
whose values are persisted: never rename one, add new ones instead). The draft is the
owning flow's own typed model; the registry knows which type to read it back as.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field

MENU = "menu"  # no flow in progress: the home flow answers

D = TypeVar("D", bound=BaseModel)


class FlowStateError(Exception):
    """A flow was handed a conversation whose draft is not its own (a bug, or a row
    written by an older deploy): the pipeline replays the event alone and answers with
    an error id."""


class Flood(BaseModel):
    tokens: float | None = None
    at: datetime | None = None
    warned: bool = False
    failed_checks: list[datetime] = []


class Conversation(BaseModel):
    state: str = MENU
    locale: str | None = None
    draft: BaseModel | None = None
    flood: Flood = Field(default_factory=Flood)
    expires_at: datetime | None = None
    # Set by "delete my data": the pipeline deletes this conversation instead of saving it.
    forget: bool = Field(default=False, exclude=True)

    def start(self, state: str, draft: BaseModel | None = None) -> None:
        """Enter a flow's state with a fresh draft."""
        self.state = state
        self.draft = draft

    def draft_as(self, kind: type[D]) -> D:
        """The draft, as the type the current flow keeps."""
        if not isinstance(self.draft, kind):
            raise FlowStateError(f"{self.state}: expected a {kind.__name__} draft")
        return self.draft

    def dump_draft(self) -> dict[str, Any] | None:
        return self.draft.model_dump(mode="json") if self.draft is not None else None

    def reset(self) -> None:
        self.state = MENU
        self.draft = None
        self.expires_at = None
