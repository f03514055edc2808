"""Raw Telegram update JSON, built field by field (including what Telegram never sends)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)


@dataclass
class Citizen:
    user_id: int
    first_name: str = "Lan"
    username: str | None = "lan_hn"
    language_code: str | None = "vi"
    phone: str = "+84912345678"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}

    def message(self, **content: Any) -> dict[str, Any]:
        return {
            "message": {
                "message_id": next(_message_ids),
                "date": int(time.time()),
                "chat": self.chat,
                "from": self.user,
                **content,
            }
        }

    def text(self, text: str) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
        return self.message(text=text, **({"entities": entities} if entities else {}))

    def press(self, data: str) -> dict[str, Any]:
        return {
            "callback_query": {
                "id": str(next(_callback_ids)),
                "from": self.user,
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": next(_message_ids),
                    "date": int(time.time()),
                    "chat": self.chat,
                    "from": {"id": 1, "is_bot": True, "first_name": "Tipbot"},
                    "text": "…",
                },
            }
        }

    def location(self, lat: float = 21.0285, lon: float = 105.8542) -> dict[str, Any]:
        return self.message(location={"latitude": lat, "longitude": lon})

    def venue(self) -> dict[str, Any]:
        loc = {"latitude": 21.0287, "longitude": 105.8524}
        return self.message(
            location=loc, venue={"location": loc, "title": "Hồ Gươm", "address": "Đinh Tiên Hoàng"}
        )

    def contact(self, owner: int | None = None, phone: str | None = None) -> dict[str, Any]:
        return self.message(
            contact={
                "phone_number": phone or self.phone,
                "first_name": self.first_name,
                "user_id": self.user_id if owner is None else owner,
            }
        )

    def photo(
        self,
        n: int = 0,
        *,
        group: str | None = None,
        caption: str | None = None,
        size: int = 120_000,
    ) -> dict[str, Any]:
        sizes = [
            {
                "file_id": f"small-{self.user_id}-{n}",
                "file_unique_id": f"us{n}",
                "width": 90,
                "height": 90,
                "file_size": 2000,
            },
            {
                "file_id": f"photo-{self.user_id}-{n}",
                "file_unique_id": f"u{n}",
                "width": 1280,
                "height": 960,
                "file_size": size,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if group:
            content["media_group_id"] = group
        if caption:
            content["caption"] = caption
        return self.message(**content)

    def document(
        self,
        name: str = "clip.mp4",
        size: int = 1000,
        mime: str = "video/mp4",
        file_id: str | None = None,  # Telegram's are opaque; the default names the file
    ) -> dict[str, Any]:
        return self.message(
            document={
                "file_id": file_id or f"doc-{name}",
                "file_unique_id": "d1",
                "file_name": name,
                "mime_type": mime,
                "file_size": size,
            }
        )

    def voice(self) -> dict[str, Any]:
        return self.message(
            voice={
                "file_id": "voice-1",
                "file_unique_id": "v1",
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_size": 5000,
            }
        )

    def edited(self, text: str) -> dict[str, Any]:
        body = self.text(text)["message"]
        body["edit_date"] = int(time.time())
        return {"edited_message": body}

    def sticker(self) -> dict[str, Any]:
        return self.message(
            sticker={
                "file_id": "st",
                "file_unique_id": "st1",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        )

    def dice(self) -> dict[str, Any]:
        return self.message(dice={"emoji": "🎲", "value": 3})

    def blocked(self, status: str = "kicked") -> dict[str, Any]:
        return {
            "my_chat_member": {
                "chat": self.chat,
                "from": self.user,
                "date": int(time.time()),
                "old_chat_member": {
                    "user": {"id": 1, "is_bot": True, "first_name": "Tipbot"},
                    "status": "member",
                },
                "new_chat_member": {
                    "user": {"id": 1, "is_bot": True, "first_name": "Tipbot"},
                    "status": status,
                    **({"until_date": 0} if status == "kicked" else {}),
                },
            }
        }


def group_message(chat_id: int, user: Citizen, text: str) -> dict[str, Any]:
    return {
        "message": {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "group", "title": "Tổ dân phố"},
            "from": user.user,
            "text": text,
        }
    }


def added_to_group(chat_id: int, by: Citizen) -> dict[str, Any]:
    bot = {"id": 123456789, "is_bot": True, "first_name": "Tipbot"}
    return {
        "my_chat_member": {
            "chat": {"id": chat_id, "type": "group", "title": "Spam"},
            "from": by.user,
            "date": int(time.time()),
            "old_chat_member": {"user": bot, "status": "left"},
            "new_chat_member": {"user": bot, "status": "member"},
        }
    }


def channel_post(text: str) -> dict[str, Any]:
    return {
        "channel_post": {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": -100123, "type": "channel", "title": "News"},
            "text": text,
        }
    }


def reaction(citizen: Citizen) -> dict[str, Any]:
    return {
        "message_reaction": {
            "chat": citizen.chat,
            "message_id": 1,
            "user": citizen.user,
            "date": int(time.time()),
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    }


def group_press(chat_id: int, user: Citizen, data: str) -> dict[str, Any]:
    """A button pressed on a message in a group chat (e.g. a unit's alert)."""
    return {
        "callback_query": {
            "id": str(next(_callback_ids)),
            "from": user.user,
            "chat_instance": "group",
            "data": data,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "supergroup", "title": "Tổ công tác"},
                "from": {"id": 123456789, "is_bot": True, "first_name": "Tipbot"},
                "text": "alert",
            },
        }
    }
