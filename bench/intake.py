"""Intake benchmark: the durable pipeline vs a bare python-telegram-bot Application.

Both sides run in this one process, one after the other, against the same in-process
fake Bot API (getUpdates serves canned JSON; replies are recorded, no sockets), driven
by the same simulated citizens: each round, every citizen sends its next update (read
off the bot's last reply, as a real client would), interleaved, in getUpdates batches
of 100. Compare the ratio, not the absolute numbers: this machine is shared and noisy.

    python bench/intake.py [--citizens 2000] [--drafts 10000] [--rate 300] [--seconds 30]

Pipeline side: the real service (Telegram adapter, inbox, dispatcher, SQLite with WAL
and synchronous=FULL, outbox, delivery) completing the whole report flow, receipt
hash included. Bare side: an Application with an in-memory 5-step ConversationHandler
and no database. Rate limits are off on both sides (the fake API enforces none).
Steady mode (after the rounds): updates offered at a fixed rate with Poisson
arrivals (default 300/s, 1,000 citizens, 30 s, the first 2 s dropped), each citizen
answering only once the bot answered it, as people do; update→reply latency is
measured from the moment the update is offered, on both sides. Beside the pipeline's
steady figures: what the disk did meanwhile (`DiskProbe`).

Memory: RSS growth while 10,000 more citizens hold an open draft, arriving 500 at a
time (target: at most 25 MB).

Last line: ratio=<rounds: pipeline updates/s ÷ bare PTB updates/s> p99_ms=<steady
pipeline p99 update→reply at the offered rate>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App, Overrides
from bot.settings import Settings

TOKEN = "123456789:AAH-benchTOKENbenchTOKENbenchTOK12"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Tipbot", "username": "bench_bot"}


class FakeAPI:
    """Serves getUpdates from a queue and records replies per chat (the network edge)."""

    def __init__(self) -> None:
        self.queue: deque[dict[str, Any]] = deque()
        self.new = asyncio.Event()
        self.update_id = 0
        self.message_id = 0
        self.last_reply: dict[int, tuple[tuple[str, str | None], ...]] = {}
        self.replies = 0
        self.waiting: dict[int, deque[float]] = defaultdict(deque)
        self.latencies: list[float] = []
        self.answered_at: list[float] = []  # when each latency's update was offered
        self.on_answer: Any = None  # called with the chat id when it gets its reply

    def push(self, update: dict[str, Any]) -> None:
        self.update_id += 1
        full = {"update_id": self.update_id, **update}
        self.queue.append(full)
        # Latency counts from the moment the update is offered, queueing included.
        self.waiting[_chat_of(full)].append(time.perf_counter())
        self.new.set()

    async def get_updates(self, timeout: float) -> list[dict[str, Any]]:
        if not self.queue:
            self.new.clear()
            try:
                await asyncio.wait_for(self.new.wait(), timeout=min(timeout, 1.0))
            except TimeoutError:
                return []
        return [self.queue.popleft() for _ in range(min(100, len(self.queue)))]

    def answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method == "sendMessage":
            chat = int(params["chat_id"])
            # Keep only the buttons' labels and data: the simulated client needs nothing
            # else, and the memory check should measure the service, not this fake.
            self.last_reply[chat] = _buttons_of(params.get("reply_markup"))
            self.replies += 1
            self._answered(chat)
            self.message_id += 1
            return {
                "message_id": self.message_id,
                "date": 0,
                "text": params.get("text", ""),
                "chat": {"id": chat, "type": "private"},
                "from": BOT,
            }
        return True

    def _answered(self, chat: int) -> None:
        pending = self.waiting.get(chat)
        if pending:
            offered = pending.popleft()
            if not pending:
                del self.waiting[chat]  # 10,000 empty deques would weigh ≈ 6 MB
            self.latencies.append(time.perf_counter() - offered)
            self.answered_at.append(offered)
            if self.on_answer is not None and not pending:
                self.on_answer(chat)


def _chat_of(update: dict[str, Any]) -> int:
    body = update.get("message") or update.get("callback_query", {}).get("message", {})
    return int(body["chat"]["id"])


class FakeRequest(BaseRequest):
    """PTB's network layer, answered in-process by FakeAPI."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[1]
        params = request_data.parameters if request_data else {}
        if endpoint == "getUpdates":
            result: Any = await self.api.get_updates(float(params.get("timeout", 0)))
        else:
            result = self.api.answer(endpoint, dict(params))
        return 200, json.dumps({"ok": True, "result": result}).encode()


def poll_transport(api: FakeAPI) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        params = json.loads(request.content or b"{}")
        updates = await api.get_updates(float(params.get("timeout", 0)))
        return httpx.Response(200, json={"ok": True, "result": updates})

    return httpx.MockTransport(handler)


# ---- simulated citizens ---------------------------------------------------------------
def _message(uid: int, **content: Any) -> dict[str, Any]:
    user = {"id": uid, "is_bot": False, "first_name": "C", "language_code": "vi"}
    return {
        "message": {
            "message_id": 1,
            "date": 0,
            "from": user,
            "chat": {"id": uid, "type": "private"},
            **content,
        }
    }


def _text(uid: int, text: str) -> dict[str, Any]:
    extra = (
        {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
        if text.startswith("/")
        else {}
    )
    return _message(uid, text=text, **extra)


def _press(uid: int, data: str) -> dict[str, Any]:
    user = {"id": uid, "is_bot": False, "first_name": "C", "language_code": "vi"}
    return {
        "callback_query": {
            "id": str(uid),
            "from": user,
            "chat_instance": "x",
            "data": data,
            "message": {"message_id": 1, "date": 0, "chat": {"id": uid, "type": "private"}},
        }
    }


def _buttons_of(markup: Any) -> tuple[tuple[str, str | None], ...]:
    """A reply's buttons as (label, callback data or None for a reply-keyboard button)."""
    if isinstance(markup, str):
        markup = json.loads(markup)
    markup = markup or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return tuple((sys.intern(b["text"]), b.get("callback_data")) for row in rows for b in row)


def _button(buttons: tuple[tuple[str, str | None], ...] | None, label: str) -> dict[str, Any]:
    for text, data in buttons or ():
        if label in text:
            return {"text": text} if data is None else {"text": text, "callback_data": data}
    raise RuntimeError(f"no button {label!r} in the last reply")


PIPELINE_SCRIPT: list[tuple[str, str]] = [
    ("text", "/start"),
    ("press", "Gửi tin báo"),
    ("press", "Tội phạm"),
    ("press", "Trộm cắp"),
    ("press", "Không"),
    ("text", "hoan kiem"),
    ("press", "Phường Hoàn Kiếm"),
    ("press", "Hôm nay"),
    ("text", "Xe máy bị lấy trộm trước cửa hàng lúc 9 giờ tối."),
    ("press", "Xong"),
    ("press", "Ẩn danh"),
    ("press", "Gửi tin báo"),
]


def pipeline_update(api: FakeAPI, uid: int, step: int) -> dict[str, Any]:
    kind, value = PIPELINE_SCRIPT[step]
    if kind == "text":
        return _text(uid, value)
    button = _button(api.last_reply.get(uid), value)
    if "callback_data" in button:
        return _press(uid, button["callback_data"])
    return _text(uid, button["text"])  # a reply-keyboard button sends its label


def bare_update(api: FakeAPI, uid: int, step: int) -> dict[str, Any]:
    # /start then four answers (button presses where our flow presses, text where it
    # types): a 5-step conversation, repeated to the same number of updates.
    if step % 5 == 0:
        return _text(uid, "/start")
    if PIPELINE_SCRIPT[step][0] == "press":
        return _press(uid, "ok")
    return _text(uid, f"answer {step}")


DRAFTS_AT_ONCE = 500  # the memory check: citizens opening a draft at the same time
THINK_S = 0.2  # the least time a person takes to answer (a reply may come in parts)
WARM_UP_S = 2.0  # steady mode: latencies of updates offered before this are dropped
PROBE_EVERY_S = 0.05  # steady mode: the disk probe's pace (20 fsyncs/s beside ≈300 commits/s)
STALL_MS = 50.0  # an fsync slower than this is reported as a stall (the p99 target)


async def steady(
    api: FakeAPI, citizens: int, steps: int, make: Any, rate: float, seconds: float
) -> list[float]:
    """Offer updates at `rate` a second (Poisson arrivals) for `seconds`, each from a
    citizen who is not waiting for an answer; return the update→reply latencies of
    those offered after the warm-up."""
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    uids = [10_000 + n for n in range(1, citizens + 1)]
    rng.shuffle(uids)
    idle: deque[int] = deque(uids)
    step_of = dict.fromkeys(uids, 0)
    api.on_answer = lambda chat: loop.call_later(THINK_S, idle.append, chat)
    start = time.perf_counter()
    due = start
    unserved = 0
    while due - start < seconds:
        due += rng.expovariate(rate)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not idle:
            unserved += 1  # everyone is waiting for the bot: the offer is lost
            continue
        uid = idle.popleft()
        try:
            update = make(api, uid, step_of[uid] % steps)
        except RuntimeError:  # its reply is still coming in parts: ask someone else
            loop.call_later(THINK_S, idle.append, uid)
            continue
        step_of[uid] += 1
        api.push(update)
    await asyncio.sleep(3.0)  # the last answers
    api.on_answer = None
    if unserved:
        print(f"  ({unserved} arrivals found every citizen waiting for an answer)")
    return [
        latency
        for latency, offered in zip(api.latencies, api.answered_at, strict=True)
        if offered - start >= WARM_UP_S and offered - start < seconds
    ]


async def drive(api: FakeAPI, citizens: int, steps: int, make: Any) -> float:
    """Run all rounds; return the elapsed wall time."""
    started = time.perf_counter()
    for step in range(steps):
        expected = api.replies + citizens
        for uid in range(1, citizens + 1):
            api.push(make(api, 10_000 + uid, step))
        while api.replies < expected:
            await asyncio.sleep(0.002)
    return time.perf_counter() - started


def bench_settings(data_dir: Path, receipts: int = 256) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        tipbot_secret_key=secrets.token_urlsafe(48),  # weak keys are refused everywhere
        telegram_bot_token=TOKEN,
        telegram_rate_per_second=0,
        telegram_chat_interval_s=0,
        flood_burst=10_000,
        tips_per_hour=10,
        log_level="WARNING",
        receipt_stock=receipts,
    )


async def start_service(api: FakeAPI, data_dir: Path, receipts: int = 256) -> App:
    """The real service, its Bot API answered in-process by `api`, once its stock of
    receipts is minted (issue 15: before the measured window).

    The stock is sized to the citizens: the rounds put every citizen's Send in the same
    instant, and each tip beyond the stock costs an Argon2 hash (≈ 11 ms of a core) on
    the hashing thread — with the default stock of 256 and 1,000 citizens, the last
    round waits ≈ 5 s for 744 hashes, and the ratio would measure Argon2, not the
    pipeline. A deployment that expects such bursts sets RECEIPT_STOCK the same way."""
    app = App(
        bench_settings(data_dir, receipts),
        Overrides(telegram_request=FakeRequest(api), telegram_poll_transport=poll_transport(api)),
    )
    await app.start(serve_http=False)
    while app.minter.stocked < receipts:
        await asyncio.sleep(0.05)
    return app


async def run_pipeline(citizens: int) -> tuple[float, int, list[float]]:
    api = FakeAPI()
    with tempfile.TemporaryDirectory() as tmp:
        app = await start_service(api, Path(tmp), receipts=citizens)
        try:
            steps = len(PIPELINE_SCRIPT)
            # The last step's receipt follows the answer to the press; wait for both.
            elapsed = await drive(api, citizens, steps, pipeline_update)
            async with app.db.read() as conn:
                from storage.tips import TipRepository

                stored = await TipRepository(conn).count()
            assert stored == citizens, f"{stored} tips for {citizens} citizens"
        finally:
            await app.stop()
    return elapsed, citizens * steps, api.latencies


class DiskProbe:
    """Times an fsync of a small write beside the database, PROBE_EVERY_S apart, in a
    thread, while the steady window runs. Every reply waits for a commit's fsync
    (synchronous=FULL), so when this shared machine's disk stalls (seen here: fsyncs of
    0.15 ms typically, up to 600 ms at times), the pipeline's tail
    shows it and bare PTB's, which writes nothing, does not. Printed beside the p99 so
    a reader can tell a stalled disk from a slow pipeline."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "fsync-probe"
        self.times_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-probe", daemon=True)

    def __enter__(self) -> DiskProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while not self._stop.wait(PROBE_EVERY_S):
                os.write(fd, b"x" * 512)
                started = time.perf_counter()
                os.fsync(fd)
                self.times_ms.append((time.perf_counter() - started) * 1000)
        finally:
            os.close(fd)

    def summary(self) -> str:
        times = sorted(self.times_ms)
        if not times:
            return "disk beside the database: 0 fsyncs (the probe did not run)"
        stalls = [t for t in times if t > STALL_MS]
        return (
            f"disk beside the database: {len(times)} fsyncs p50={times[len(times) // 2]:.2f}ms"
            f" max={times[-1]:.1f}ms, {len(stalls)} over {STALL_MS:g}ms"
        )


async def steady_pipeline(citizens: int, rate: float, seconds: float) -> tuple[list[float], str]:
    api = FakeAPI()
    with tempfile.TemporaryDirectory() as tmp:
        app = await start_service(api, Path(tmp))
        try:
            steps = len(PIPELINE_SCRIPT)
            with DiskProbe(Path(tmp)) as probe:
                latencies = await steady(api, citizens, steps, pipeline_update, rate, seconds)
            return latencies, probe.summary()
        finally:
            await app.stop()


async def run_bare(citizens: int, steps: int) -> tuple[float, int, list[float]]:
    api = FakeAPI()
    elapsed = await with_bare_ptb(api, lambda: drive(api, citizens, steps, bare_update))
    return elapsed, citizens * steps, api.latencies


async def steady_bare(citizens: int, rate: float, seconds: float) -> tuple[list[float], str]:
    api = FakeAPI()
    steps = len(PIPELINE_SCRIPT)
    latencies: list[float] = await with_bare_ptb(
        api, lambda: steady(api, citizens, steps, bare_update, rate, seconds)
    )
    return latencies, ""


async def with_bare_ptb(api: FakeAPI, run: Any) -> Any:
    """A bare PTB Application (an in-memory 5-step conversation) on `api` while `run`."""

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.effective_message is not None
        if update.callback_query is not None:
            await update.callback_query.answer()  # as our flow answers every press
        state = (context.user_data or {}).get("step", 0) + 1  # type: ignore[union-attr]
        context.user_data["step"] = state  # type: ignore[index]
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
        await update.effective_message.reply_text(f"step {state}", reply_markup=keyboard)
        return state if state < 5 else ConversationHandler.END

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        context.user_data["step"] = 0  # type: ignore[index]
        return await ask(update, context)

    text = MessageHandler(filters.TEXT & ~filters.COMMAND, ask)
    with warnings.catch_warnings():  # per_message=False is what we want here
        warnings.simplefilter("ignore")
        conversation = ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={n: [text, CallbackQueryHandler(ask)] for n in range(1, 5)},
            fallbacks=[CommandHandler("start", start)],
        )
    application = (
        Application.builder()
        .token(TOKEN)
        .request(FakeRequest(api))
        .get_updates_request(FakeRequest(api))
        .build()
    )
    application.add_handler(conversation)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=1, poll_interval=0)
        try:
            return await run()
        finally:
            await application.updater.stop()
            await application.stop()


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


async def open_drafts(count: int) -> float:
    """RSS growth (MB) while `count` citizens each hold an open draft."""
    api = FakeAPI()
    with tempfile.TemporaryDirectory() as tmp:
        app = await start_service(api, Path(tmp))
        try:
            await drive(api, 200, 2, pipeline_update)  # warm up every code path first
            before = rss_mb()
            # People arrive a few hundred at a time, not 10,000 in one instant: offering
            # all at once would measure this fake's queue of 10,000 updates (and the
            # heap it leaves grown), not what the service keeps per open draft.
            for first in range(0, count, DRAFTS_AT_ONCE):
                group = min(DRAFTS_AT_ONCE, count - first)
                await drive(
                    api,
                    group,
                    2,
                    lambda a, uid, step, at=first: pipeline_update(a, uid + at + 1000, step),
                )
            after = rss_mb()
        finally:
            await app.stop()
    return after - before


def quantiles_ms(latencies: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


def describe(name: str, elapsed: float, updates: int, latencies: list[float]) -> float:
    rate = updates / elapsed
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<9} {updates} updates in {elapsed:.2f}s = {rate:,.0f} updates/s  "
        f"update→reply p50={q[49] * 1000:.1f}ms p99={q[98] * 1000:.1f}ms"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=300.0, help="steady mode: updates/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady mode: duration")
    parser.add_argument("--steady-citizens", type=int, default=1000)
    args = parser.parse_args()
    print(f"{args.citizens} citizens × {len(PIPELINE_SCRIPT)} updates each, interleaved")
    pipe = describe("pipeline", *await run_pipeline(args.citizens))
    bare = describe("bare PTB", *await run_bare(args.citizens, len(PIPELINE_SCRIPT)))
    print(
        f"steady: {args.rate:g} updates/s offered (Poisson) by {args.steady_citizens} citizens"
        f" for {args.seconds:g}s, the first {WARM_UP_S:g}s dropped"
    )
    steady_p99 = 0.0
    for name, run in (("pipeline", steady_pipeline), ("bare PTB", steady_bare)):
        latencies, disk = await run(args.steady_citizens, args.rate, args.seconds)
        p50, p95, p99 = quantiles_ms(latencies)
        print(
            f"  {name:<9} {len(latencies)} replies: update→reply p50={p50:.1f}ms"
            f" p95={p95:.1f}ms p99={p99:.1f}ms"
        )
        if disk:
            print(f"            ({disk})")
        if name == "pipeline":
            steady_p99 = p99
    growth = await open_drafts(args.drafts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS {peak:.0f} MB; {args.drafts} open drafts grew RSS by {growth:.1f} MB "
        f"(target: at most 25 MB)"
    )
    print(f"ratio={pipe / bare:.2f} p99_ms={steady_p99:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
