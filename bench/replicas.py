"""Replicas benchmark: the intake benchmark's citizens through the Telegram webhook,
against one and then two `tipbot run` processes sharing one PostgreSQL, in one run.

Each replica is a real process (webhook mode, its own port); the "platform" posts
every citizen's next update to the replicas in turn and a loopback fake Bot API records
the replies. Compare the ratio, not the absolute numbers: this 2-core machine also
runs PostgreSQL and this driver, so two replicas cannot double anything here.

    python bench/replicas.py [--citizens 300] [--database postgresql+asyncpg://…/test]

Last line: ratio=<updates/s with 2 replicas ÷ updates/s with 1>
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("intake", ROOT / "bench" / "intake.py")
assert _spec is not None
assert _spec.loader is not None
intake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(intake)

SECRET = "bench-webhook-secret"


class FakeBotAPI:
    """Answers the calls a webhook-mode replica makes; keeps each chat's last buttons."""

    def __init__(self) -> None:
        self.last_reply: dict[int, tuple[tuple[str, str | None], ...]] = {}
        self.replies = 0
        self.webhooks = 0
        self.message_id = 0
        self.app = Starlette(
            routes=[Route("/bot{token}/{method}", self.endpoint, methods=["POST"])]
        )

    async def endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        # Parsed by hand: this process is the platform for every replica at once, and
        # Starlette's form parser made it the bottleneck (a benchmark of the driver).
        body = await request.body()
        params: dict[str, Any] = {}
        if request.headers.get("content-type", "").startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        result: Any = True
        if method == "getMe":
            result = intake.BOT
        elif method == "setWebhook":
            self.webhooks += 1
        elif method == "sendMessage":
            chat = int(params["chat_id"])
            self.last_reply[chat] = intake._buttons_of(params.get("reply_markup"))
            self.replies += 1
            self.message_id += 1
            result = {
                "message_id": self.message_id, "date": 0, "text": "",
                "chat": {"id": chat, "type": "private"}, "from": intake.BOT,
            }  # fmt: skip
        return JSONResponse({"ok": True, "result": result})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def fresh_database(base: str) -> tuple[str, str]:
    name = f"tipbot_bench_{uuid.uuid4().hex[:8]}"
    admin = base.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base.rsplit('/', 1)[0]}/{name}", name


async def drop_database(base: str, name: str) -> None:
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def deliver(client: aiohttp.ClientSession, hook: str, update: dict[str, Any]) -> None:
    """Post one update as the platform does: again if the connection broke (a server
    closes idle keep-alive connections; the platform retries). aiohttp, not httpx: at
    hundreds of posts a second httpx alone took most of this driver's core."""
    for attempt in range(5):
        try:
            async with client.post(
                hook, json=update, headers={"x-telegram-bot-api-secret-token": SECRET}
            ) as answer:
                await answer.read()
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1 * (attempt + 1))
    raise RuntimeError("a replica did not take an update")


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def quiet(pids: list[int], limit: float = 60.0) -> None:
    """Wait until the replicas have finished starting: each mints its stock of receipts
    (256 Argon2 hashes) in the background, and two replicas starting would otherwise
    do twice that inside the measured window (issue 15 asks the same of intake)."""
    if not _has_proc():
        await asyncio.sleep(5)
        return
    deadline = time.monotonic() + limit
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = [cpu_seconds(pid) for pid in pids]
        if all(b - a < 0.05 for a, b in zip(before, now, strict=True)):  # under 10 % busy
            return
        before = now


async def run(replicas: int, citizens: int, base: str, api: FakeBotAPI, api_url: str) -> float:
    url, name = await fresh_database(base)
    api.last_reply.clear()
    api.replies = api.webhooks = 0
    key = secrets.token_urlsafe(48)
    ports = [free_port() for _ in range(replicas)]
    procs = []
    with tempfile.TemporaryDirectory() as data:
        try:
            for n, port in enumerate(ports):
                env = {
                    **os.environ, "DATABASE_URL": url, "TIPBOT_SECRET_KEY": key,
                    "DATA_DIR": data, "WEB_PORT": str(port), "REPLICA_ID": f"r{n}",
                    "TELEGRAM_BOT_TOKEN": intake.TOKEN, "TELEGRAM_API_BASE_URL": api_url,
                    "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
                    "TELEGRAM_WEBHOOK_URL": "https://bench.invalid/telegram/webhook",
                    "TELEGRAM_RATE_PER_SECOND": "0", "TELEGRAM_CHAT_INTERVAL_S": "0",
                    "FLOOD_BURST": "10000", "TIPS_PER_HOUR": "10", "LOG_LEVEL": "WARNING",
                    "WEB_POW_BITS": "0",
                }  # fmt: skip
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bot.cli",
                        "run",
                        cwd=ROOT,
                        env=env,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
            deadline = time.monotonic() + 60
            while api.webhooks < replicas:
                assert time.monotonic() < deadline, "the replicas did not start"
                await asyncio.sleep(0.05)
            await quiet([proc.pid for proc in procs])
            hooks = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
            update_id = 0
            started = time.perf_counter()
            connector = aiohttp.TCPConnector(limit=64)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
                for step in range(len(intake.PIPELINE_SCRIPT)):
                    expected = api.replies + citizens
                    posts = []
                    for uid in range(1, citizens + 1):
                        update_id += 1
                        made = intake.pipeline_update(api, 10_000 + uid, step)
                        update = {"update_id": update_id, **made}
                        posts.append(deliver(client, hooks[(uid + step) % replicas], update))
                    await asyncio.gather(*posts)
                    while api.replies < expected:
                        await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                await proc.wait()
            await drop_database(base, name)
    updates = citizens * len(intake.PIPELINE_SCRIPT)
    rate = updates / elapsed
    print(f"{replicas} replica(s): {updates} updates in {elapsed:.2f}s = {rate:,.0f} updates/s")
    return rate


_SPIN = """
import json, time
item = {"chat": 1, "text": "x" * 40}
start = time.monotonic()
end, done = start + 1.0, 0
while time.monotonic() < end:
    for _ in range(500):
        json.loads(json.dumps(item))
    done += 500
print(done / (time.monotonic() - start))
"""


async def machine_scaling() -> float:
    """What two busy processes get done here, as a multiple of one: the ceiling of
    any two-replica ratio on this machine (its two cores slow each other down)."""

    async def spin(copies: int) -> float:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _SPIN, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(copies)
        ]
        outputs = [await proc.communicate() for proc in procs]
        return sum(float(out.decode()) for out, _ in outputs)

    ones, twos = [], []
    for _ in range(3):  # alternately, best of three: the machine is shared and noisy
        ones.append(await spin(1))
        twos.append(await spin(2))
    return max(twos) / max(ones)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "TIPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    api = FakeBotAPI()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, port=port, log_config=None, access_log=False, lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    api_url = f"http://127.0.0.1:{port}/bot"
    try:
        print(f"{args.citizens} citizens × {len(intake.PIPELINE_SCRIPT)} updates, via webhooks")
        scaling = await machine_scaling()
        print(f"two CPU-bound processes here do {scaling:.2f}× the work of one")
        one = await run(1, args.citizens, args.database, api, api_url)
        two = await run(2, args.citizens, args.database, api, api_url)
    finally:
        server.should_exit = True
        await serving
    print(f"ratio={two / one:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
