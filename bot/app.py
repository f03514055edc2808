"""The one place that wires the service together, in order.

Reading order: settings → database (migrated) → identity and catalogs → channels →
pipeline (inbox → flows → outbox) → delivery → web server → scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import uvicorn

from bot.channels.base import Channel
from bot.channels.desk import DeskChannel
from bot.channels.web import WebChannel, WebLimits
from bot.clock import Clock
from bot.collector import CollectorTuning
from bot.crash import CrashPoints
from bot.delivery.filerefs import DatabaseFileRefs
from bot.delivery.pacing import paid_rate, window_for
from bot.delivery.sender import OutboxSender
from bot.desk.admin import AdminPages
from bot.desk.figures import FigurePages
from bot.desk.files import FileAccess
from bot.desk.pages import DeskPages
from bot.desk.signin import StaffPortal
from bot.desk.tip import TipPages
from bot.dispatch.dispatcher import Pipeline
from bot.dispatch.render import Renderer
from bot.http import build_web_app
from bot.identity import Identity
from bot.settings import Settings, TelegramMode, ZaloMode, private_dir
from bot.work.alerts import Alerter, AlertSettings
from bot.work.broadcasts import Broadcaster, start_due_campaigns
from bot.work.digests import Digester
from bot.work.escalation import Escalator
from bot.work.leader import Leadership
from bot.work.retention import Retention, RetentionSettings
from bot.work.scheduler import build_scheduler, daily_at
from handlers.core.context import Limits
from handlers.core.i18n import Catalog
from handlers.domain.places import gazetteer
from handlers.domain.quota import TipQuota
from handlers.domain.receipts import ReceiptHasher, ReceiptMinter
from handlers.flows import build_router
from storage import inbox, outbox, ratebudget, sentfiles, webmail
from storage.db import ALERTS, CAMPAIGNS, Database, SqliteOptions
from storage.migrate import upgrade_async
from storage.vault import Vault

log = logging.getLogger(__name__)

# How long a stop waits for each part before giving up on it (a process manager
# would SIGKILL a service that never exits; the durable inbox/outbox makes that safe,
# but a stop that returns is kinder to tests and to restarts).
STOP_GRACE_S = 10.0


def _where(task: asyncio.Task[Any]) -> str:
    frames = task.get_stack(limit=8)
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames)) or "?"


async def _bounded(step: Awaitable[None], what: str) -> None:
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await step
    except TimeoutError:
        log.error("%s did not close within %.0fs", what, STOP_GRACE_S)


@dataclass
class Overrides:
    """Test and benchmark seams: the network edge and the clock, nothing else."""

    clock: Clock | None = None
    telegram_request: Any = None  # a telegram.request.BaseRequest
    telegram_poll_transport: httpx.AsyncBaseTransport | None = None
    zalo_transport: httpx.AsyncBaseTransport | None = None
    crash_at: str | None = None


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the service owns SIGINT/SIGTERM (cli.py)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class App:
    def __init__(self, settings: Settings, overrides: Overrides | None = None) -> None:
        self.settings = settings
        self.overrides = overrides or Overrides()
        self.clock = self.overrides.clock or Clock()
        self.crash = CrashPoints(self.overrides.crash_at)
        self.tasks: list[asyncio.Task[Any]] = []
        self.web_url: str | None = None
        self.chat_url: str | None = None
        self._server: uvicorn.Server | None = None
        self.collector = CollectorTuning()

    async def start(self, *, serve_http: bool = True) -> None:
        s = self.settings
        self.collector.apply()
        url = s.resolved_database_url
        # Migrations first: the schema is Alembic's, never create_all.
        await upgrade_async(url)
        if s.key_beside_data:
            log.warning(
                "DEV MODE: the secret key was generated into %s, beside the data it "
                "protects: a copy of that folder opens every sealed value. Set "
                "TIPBOT_SECRET_KEY or TIPBOT_SECRET_KEY_FILE (outside DATA_DIR) for real use.",
                s.data_dir / "secret.key",
            )
        private_dir(s.data_dir)
        self.vault = Vault(s.secret_key())
        self.db = Database(
            url, SqliteOptions(s.sqlite_synchronous, s.sqlite_busy_timeout_ms), vault=self.vault
        )
        if self.db.is_sqlite:
            # SQLite means a single instance, so any lease left is from a dead run of ours:
            # hand those messages out again now rather than after the lease runs out.
            async with self.db.write() as conn:
                await outbox.release_leases(conn)

        self.identity = Identity(s.secret_key())
        self.catalog = Catalog(fallback=s.default_locale)
        self.places = gazetteer(s.default_province)
        self.hasher = ReceiptHasher(s.receipt_hash_time_cost, s.receipt_hash_memory_kib)
        self.minter = ReceiptMinter(self.hasher, s.receipt_stock)
        limits = Limits(
            draft_ttl=timedelta(minutes=s.draft_ttl_minutes),
            tips_per_hour=s.tips_per_hour,
            flood_burst=s.flood_burst,
            flood_rate_per_second=s.flood_rate_per_second,
            status_checks_per_hour=s.status_checks_per_hour,
            max_attachments=s.max_attachments,
            max_description_chars=s.max_description_chars,
            max_download_mb=s.telegram_max_download_mb,
            claim_urgent_within=timedelta(minutes=s.claim_urgent_minutes),
            claim_within=timedelta(hours=s.claim_normal_hours),
            invite_ttl=timedelta(days=s.invite_ttl_days),
            followup=timedelta(days=s.followup_days),
            broadcast_rate=s.telegram_rate_per_second,
            paid_rate=s.telegram_paid_rate_per_second,
            paid_stars_per_message=(
                s.broadcast_paid_stars_per_message
                if s.broadcast_paid and s.telegram_bot_token
                else None
            ),
        )

        # Channels: the web chat always; Telegram only when a token is configured.
        self.web = WebChannel(
            identity=self.identity,
            secret=s.secret_key(),
            catalog=self.catalog,
            uploads=s.data_dir / "uploads",
            limits=WebLimits(
                messages_per_minute=s.web_messages_per_minute,
                uploads_per_hour=s.web_uploads_per_hour,
                sessions_per_hour_per_client=s.web_sessions_per_hour,
                max_upload_mb=s.web_max_upload_mb,
                pow_bits=s.web_pow_bits,
                secure_cookie=s.web_secure_cookie,
                embed_origins=s.web_embed_origins,
            ),
        )
        # The officer desk's forms travel as a channel of their own (decision 0014).
        self.desk = DeskChannel(self.identity)
        self.channels: dict[str, Channel] = {self.web.name: self.web, self.desk.name: self.desk}
        self.telegram = None
        if s.telegram_bot_token is not None:
            from bot.channels.telegram import TelegramChannel

            self.telegram = TelegramChannel(
                token=s.telegram_bot_token.get_secret_value(),
                identity=self.identity,
                base_url=s.telegram_api_base_url,
                file_url=s.telegram_file_url,
                max_download_mb=s.telegram_max_download_mb,
                poll_timeout=s.telegram_poll_timeout_s,
                request=self.overrides.telegram_request,
                poll_transport=self.overrides.telegram_poll_transport,
                # At 1,000 msg/s and ~50 ms a call, about 50 sends are in flight.
                connections=64 if s.broadcast_paid else 16,
                file_refs=DatabaseFileRefs(self.db, "telegram", self.clock),
            )
            self.channels[self.telegram.name] = self.telegram

        self.zalo = None
        if s.zalo_bot_token is not None:
            from bot.channels.zalo import ZaloChannel

            self.zalo = ZaloChannel(
                token=s.zalo_bot_token.get_secret_value(),
                identity=self.identity,
                uploads=self.web.store,  # the same encrypted store and metadata removal
                base_url=s.zalo_api_base_url,
                poll_timeout=s.zalo_poll_timeout_s,
                max_download_mb=s.zalo_max_download_mb,
                public_url=s.public_url,
                transport=self.overrides.zalo_transport,
            )
            self.channels[self.zalo.name] = self.zalo

        self.delivery = OutboxSender(
            db=self.db,
            channels=self.channels,
            identity=self.identity,
            clock=self.clock,
            rates={"telegram": s.telegram_rate_per_second, "zalo": s.zalo_rate_per_second},
            chat_interval={"telegram": s.telegram_chat_interval_s, "zalo": s.zalo_chat_interval_s},
            group_interval={"telegram": s.telegram_group_interval_s},
            max_attempts=s.delivery_max_attempts,
            concurrency=s.delivery_concurrency,
            lease=timedelta(seconds=s.delivery_lease_s),
            crash=self.crash,
        )
        self.pipeline = Pipeline(
            db=self.db,
            channels=self.channels,
            identity=self.identity,
            router=build_router(self.catalog),
            renderer=Renderer(self.catalog, uploads=self.web.store),
            places=self.places,
            hasher=self.hasher,
            minter=self.minter,
            limits=limits,
            clock=self.clock,
            crash=self.crash,
            batch_size=s.inbox_batch_size,
            quota=TipQuota(),
            idle=timedelta(minutes=s.conversation_idle_minutes),
            on_outbox=self._committed,
            # One process on SQLite: replies go to the sender in memory, already leased
            # (replicas on PostgreSQL claim them, so that any replica may send).
            hand_off=self.delivery.hand if self.db.is_sqlite else None,
            lease=timedelta(seconds=s.delivery_lease_s),
            data_dir=s.data_dir,
        )
        self.broadcaster = Broadcaster(
            db=self.db,
            channels=self.channels,
            identity=self.identity,
            renderer=self.pipeline.renderer,
            windows=self.delivery.windows,  # one rate limit per channel, shared
            paid_windows=(
                # Paid campaigns on Telegram: up to the paid rate, less the free rate the
                # replies keep using beside them (pacing.paid_rate).
                {
                    "telegram": window_for(
                        self.db,
                        "telegram-paid",
                        paid_rate(s.telegram_paid_rate_per_second, s.telegram_rate_per_second),
                        bulk_only=True,
                    )
                }
                if s.broadcast_paid and "telegram" in self.channels
                else None
            ),
            clock=self.clock,
            crash=self.crash,
        )
        # The officer side's background work: alerts when tips arrive, escalation of
        # unclaimed tips, digests. What is due lives in the database; these only look.
        self.alerter = Alerter(
            db=self.db,
            pipeline=self.pipeline,
            places=self.places,
            clock=self.clock,
            settings=AlertSettings(
                per_minute=s.alerts_per_minute_per_destination, batch_over=s.alert_batch_over
            ),
        )
        self.escalator = Escalator(
            db=self.db,
            pipeline=self.pipeline,
            places=self.places,
            clock=self.clock,
            claim_urgent=limits.claim_urgent_within,
            claim_normal=limits.claim_within,
            alerts_due=self.alerter.wake,
        )
        self.digester = Digester(
            db=self.db,
            pipeline=self.pipeline,
            catalog=self.catalog,
            places=self.places,
            clock=self.clock,
            hour=s.digest_hour,
            weekday=s.digest_weekday,
            charts_dir=s.data_dir / "digests",
        )
        self.retention = Retention(self.db, self.web.store, self.clock, RetentionSettings.of(s))
        files = FileAccess(self.db, self.clock)
        self.web.file_access = functools.partial(files.may_open, self.web.name)

        # Workers: on start they pick up whatever a previous run left pending.
        self._spawn(self.pipeline.run(), "dispatcher")
        self._spawn(self.delivery.run(), "delivery")
        self._spawn(self.minter.run(), "receipt-minter")
        if self.telegram is not None:
            await self.telegram.start()
        if self.zalo is not None:
            await self.zalo.start()

        if serve_http:
            await self._serve_http()
        if self.zalo is not None and s.zalo_mode is ZaloMode.WEBHOOK:
            assert s.zalo_webhook_url is not None
            assert s.zalo_webhook_secret is not None
            await self.zalo.set_webhook(
                s.zalo_webhook_url, s.zalo_webhook_secret.get_secret_value()
            )
        if self.telegram is not None and s.telegram_mode is TelegramMode.WEBHOOK:
            assert s.telegram_webhook_url is not None  # the settings validator ensures it
            assert s.telegram_webhook_secret is not None
            await self.telegram.set_webhook(
                s.telegram_webhook_url, s.telegram_webhook_secret.get_secret_value()
            )

        if not self.db.is_sqlite:
            # Replicas may share this database: a page's replies reach whichever
            # replica it polls (decision 0016).
            self.web.share(self.db)
            self._spawn(self.web.follow(), "web-follow")
        # Every replica sends campaigns: their ledger claims skip each other's.
        self._spawn(self.broadcaster.run(), "broadcasts")
        if self.db.is_sqlite:  # one process: it leads
            await self._lead()
        else:
            self.leadership = Leadership(self.db, s.replica)
            self._spawn(self.leadership.hold(self._lead), "leadership")

    async def _lead(self) -> None:
        """What one replica alone does (decision 0016): polling the platforms (their
        updates are handed out once), alerts and the scheduled jobs (which start
        campaigns; every replica sends them)."""
        s = self.settings
        self._spawn(self.alerter.run(), "alerts")
        if self.telegram is not None and s.telegram_mode is TelegramMode.POLLING:
            self._spawn(self.telegram.poll(self.pipeline), "telegram-polling")
        if self.zalo is not None and s.zalo_mode is ZaloMode.POLLING:
            self._spawn(self.zalo.poll(self.pipeline), "zalo-polling")
        self.scheduler = build_scheduler(
            [
                ("expire-drafts", timedelta(minutes=1), self.pipeline.expire_drafts),
                ("wal-checkpoint", timedelta(minutes=10), self.db.checkpoint),
                # Links between tips and chats end with the follow-up window; idle
                # conversation rows (sealed addresses) go after a quiet hour.
                ("forget-links", timedelta(minutes=5), self.pipeline.forget_links),
                ("retention", daily_at(3), self.retention.purge),
                ("purge-web-deliveries", timedelta(minutes=5), self._purge_web_deliveries),
                ("forget-rate-slots", timedelta(minutes=1), self._forget_rate_slots),
                ("forget-sent-files", timedelta(hours=6), self._forget_sent_files),
                (
                    "purge-inbox",
                    timedelta(hours=1),
                    lambda: self.pipeline.purge_inbox(timedelta(hours=s.inbox_retention_hours)),
                ),
                # Deadlines and sent periods live in the database: these jobs only look.
                ("escalation", timedelta(seconds=30), self.escalator.escalate),
                ("campaign-schedules", timedelta(seconds=15), self.start_campaigns),
                ("digest-daily", daily_at(s.digest_hour), self.digester.send_digests),
                (
                    "digest-weekly",
                    daily_at(
                        s.digest_hour,
                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[s.digest_weekday],
                    ),
                    self.digester.send_digests,
                ),
            ]
        )
        self.scheduler.start()
        # Catch up at start: escalations that fell due and a digest whose time passed
        # while the service was down are sent now (once: the database remembers).
        # (Not a worker: it ends, and `wait` returns when a worker ends.)
        self._catch_up_task = asyncio.create_task(self._catch_up(), name="catch-up")

    async def _serve_http(self) -> None:
        s = self.settings
        webhooks = []
        if self.telegram is not None and s.telegram_mode is TelegramMode.WEBHOOK:
            assert s.telegram_webhook_secret is not None
            webhooks.append((
                "/telegram/webhook",
                self.telegram.webhook_endpoint(
                    self.pipeline,
                    s.telegram_webhook_secret.get_secret_value(),
                    s.webhook_max_body_bytes,
                ),
            ))  # fmt: skip
        if self.zalo is not None and s.zalo_mode is ZaloMode.WEBHOOK:
            assert s.zalo_webhook_secret is not None
            webhooks.append((
                "/zalo/webhook",
                self.zalo.webhook_endpoint(
                    self.pipeline,
                    s.zalo_webhook_secret.get_secret_value(),
                    s.webhook_max_body_bytes,
                ),
            ))  # fmt: skip
        self.staff = StaffPortal(
            db=self.db,
            catalog=self.catalog,
            clock=self.clock,
            secret=s.secret_key(),
            secure_cookie=s.web_secure_cookie,
            require_2fa=s.staff_require_2fa,
        )
        app = build_web_app(
            health=self.health,
            routes=[
                *self.web.routes(self.pipeline),
                *self.staff.routes(),
                *DeskPages(self.staff, self.places, self.clock).routes(),
                *FigurePages(self.staff, self.places, self.clock).routes(),
                *AdminPages(
                    portal=self.staff,
                    places=self.places,
                    clock=self.clock,
                    desk=self.desk,
                    pipeline=self.pipeline,
                ).routes(),
                *TipPages(
                    portal=self.staff,
                    places=self.places,
                    clock=self.clock,
                    desk=self.desk,
                    pipeline=self.pipeline,
                    uploads=self.web.store,
                    tile_url=s.map_tile_url,
                ).routes(),
            ],
            webhooks=webhooks,
            health_token=s.health_token.get_secret_value() if s.health_token else None,
        )
        config = uvicorn.Config(
            app,
            host=s.web_host,
            port=s.web_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            # After this, open connections are dropped (what they asked for is durable).
            timeout_graceful_shutdown=int(STOP_GRACE_S // 2),
        )
        self._server = _QuietServer(config)
        self._spawn(self._server.serve(), "http")
        while not self._server.started:
            await asyncio.sleep(0.02)
            for task in self.tasks:
                if task.done() and task.exception():
                    raise RuntimeError("web server failed to start") from task.exception()
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.web_url = s.public_url or f"http://{host}:{port}/"
        self.chat_url = self.web_url.rstrip("/") + "/chat"

    def _committed(self, changes: Collection[str] = (ALERTS, CAMPAIGNS)) -> None:
        """Something committed replies to deliver, and perhaps alerts to send or a
        campaign to start (`changes`; when a caller cannot tell, both)."""
        self.delivery.wake()
        if ALERTS in changes:
            self.alerter.wake()
        if CAMPAIGNS in changes:
            self.broadcaster.wake()

    async def start_campaigns(self) -> int:
        started = await start_due_campaigns(self.db, self.clock)
        if started:
            self.broadcaster.wake()
        return started

    async def _catch_up(self) -> None:
        try:
            await self.start_campaigns()
            await self.pipeline.forget_links()
            await self.escalator.escalate()
            await self.digester.send_digests()
        except Exception:
            log.exception("catch-up at start failed; the scheduled jobs will retry")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.tasks.append(task)

    async def _purge_web_deliveries(self) -> None:
        """Shared web chat messages are kept minutes: long enough for a page's next
        poll on any replica, then deleted (they were sealed meanwhile)."""
        async with self.db.write() as conn:
            await webmail.purge(conn, self.clock.now() - timedelta(minutes=15))

    async def _forget_sent_files(self) -> None:
        """Uploaded files' references are a cache: after a week a file is uploaded
        again, and a reference does not outlive the file retention deletes by long."""
        async with self.db.write() as conn:
            await sentfiles.forget(conn, self.clock.now() - timedelta(days=7))

    async def _forget_rate_slots(self) -> None:
        if self.db.is_sqlite:
            return
        slot = int(time.time() * ratebudget.SLOTS_PER_SECOND)
        async with self.db.write() as conn:
            await ratebudget.forget(conn, slot - 60 * ratebudget.SLOTS_PER_SECOND)

    @property
    def leading(self) -> bool:
        leadership = getattr(self, "leadership", None)
        return leadership.leading.is_set() if leadership is not None else True

    async def health(self) -> dict[str, Any]:
        async with self.db.read() as conn:
            return {
                "ok": True,
                "replica": self.settings.replica,
                "leader": self.leading,
                "inbox": await inbox.counts(conn),
                "outbox": await outbox.counts(conn),
                "channels": sorted(self.channels),
            }

    async def wait(self) -> None:
        """Return when a worker dies (e.g. 409 Conflict, a lost leadership), re-raising
        its error. Workers a replica starts when it comes to lead are watched too."""
        while True:
            done, _ = await asyncio.wait(
                list(self.tasks), timeout=1.0, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if done:
                return

    async def stop(self) -> None:
        if getattr(self, "scheduler", None) is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._server is not None:
            self._server.should_exit = True
            self.web.close()
            self.desk.close()
        catch_up = getattr(self, "_catch_up_task", None)
        for task in [*self.tasks, *([catch_up] if catch_up else [])]:
            if task.get_name() != "http":
                task.cancel()
        workers = [*self.tasks, *([catch_up] if catch_up else [])]
        if workers:
            done, stuck = await asyncio.wait(workers, timeout=STOP_GRACE_S)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("worker %s had failed: %r", task.get_name(), task.exception())
            for task in stuck:
                # A worker that ignores cancellation would otherwise hang the stop
                # forever; name it (and where it waits) so it can be fixed.
                log.error("worker %s did not stop: %s", task.get_name(), _where(task))
        self.tasks.clear()
        if self.telegram is not None:
            await _bounded(self.telegram.stop(), "telegram channel")
        if self.zalo is not None:
            await _bounded(self.zalo.stop(), "zalo channel")
        await _bounded(self.db.dispose(), "database pool")
        self.collector.restore()
