"""A browser-less web chat client: the same JSON calls the page's script makes."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx


def solve(nonce: str, bits: int) -> str:
    answer = 0
    while True:
        digest = hashlib.sha256(f"{nonce}:{answer}".encode()).digest()
        if int.from_bytes(digest, "big") >> (256 - bits) == 0:
            return str(answer)
        answer += 1


class WebCitizen:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.csrf = ""
        self.after = 0
        self.messages: list[dict[str, Any]] = []

    async def close(self) -> None:
        await self.client.aclose()

    async def open(self, *, solve_challenge: bool = True) -> httpx.Response:
        response = await self.client.post("/chat/api/open")
        response.raise_for_status()
        body = response.json()
        self.csrf = body["csrf"]
        challenge = body["challenge"]
        if challenge and solve_challenge:
            answer = solve(challenge["nonce"], challenge["bits"])
            proof = await self.post(
                "pow", {"nonce": challenge["nonce"], "sig": challenge["sig"], "answer": answer}
            )
            proof.raise_for_status()
        return response

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await self.client.post(
            f"/chat/api/{path}", json=body, headers={"X-CSRF-Token": self.csrf}
        )
        if response.is_success and response.headers.get("content-type") == "application/json":
            self.csrf = response.json().get("csrf") or self.csrf  # as the page does
        return response

    async def upload(
        self, name: str, data: bytes, mime: str, caption: str | None = None
    ) -> httpx.Response:
        """Attach a file, as the page's file input does (a fresh request id each time)."""
        form = {"id": uuid.uuid4().hex, **({"caption": caption} if caption else {})}
        return await self.client.post(
            "/chat/api/upload",
            headers={"X-CSRF-Token": self.csrf},
            data=form,
            files={"file": (name, data, mime)},
        )

    async def say(self, text: str) -> httpx.Response:
        return await self.post("send", {"id": uuid.uuid4().hex, "text": text})

    async def choose(self, data: str) -> httpx.Response:
        return await self.post("send", {"id": uuid.uuid4().hex, "choice": data})

    async def fetch(self) -> list[dict[str, Any]]:
        """Return the messages that arrived since the last fetch (long-poll)."""
        response = await self.client.get("/chat/api/messages", params={"after": self.after})
        response.raise_for_status()
        new = response.json()["messages"]
        if new:
            self.after = new[-1]["seq"]
            self.messages += new
        return list(new)

    async def fetch_after(self, after: int) -> list[dict[str, Any]]:
        """What a page asking from `after` gets (0: a reload), without waiting."""
        response = await self.client.get("/chat/api/messages", params={"after": after}, timeout=30)
        response.raise_for_status()
        return list(response.json()["messages"])

    def button(self, label_part: str) -> dict[str, Any]:
        for message in reversed(self.messages):
            buttons = [b for row in message.get("buttons", []) for b in row]
            if buttons:
                for b in buttons:
                    if label_part.lower() in b["label"].lower():
                        return b
                raise AssertionError(f"no {label_part!r} in {[b['label'] for b in buttons]}")
        raise AssertionError("no buttons yet")
