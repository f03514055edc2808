"""Service settings, read once from the environment and `.env` at the entry point."""

from __future__ import annotations

import math
import os
import re
import secrets
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


ZaloMode = TelegramMode  # the same two ways in: long polling or a webhook


_PLACEHOLDER_WORDS = ("change", "secret", "password", "example", "placeholder", "xxx", "todo")
MIN_KEY_CHARS = 32


def key_weakness(key: str) -> str | None:
    """Why a secret key is too weak to protect tipsters, or None. Refuses short keys,
    placeholder words, few distinct characters, low entropy and repeated patterns
    (a generated `secrets.token_urlsafe(48)` passes easily)."""
    if len(key) < MIN_KEY_CHARS:
        return f"shorter than {MIN_KEY_CHARS} characters"
    # Words, not substrings: a random key holds "XxX" or "toDo" by chance (one in a few
    # hundred `token_urlsafe(48)` keys did) and must not be refused for it.
    words = re.split(r"[^a-z0-9]+", key.lower())
    if any(w.startswith(_PLACEHOLDER_WORDS) and len(w) <= 16 for w in words):
        return "contains a placeholder word"
    counts = Counter(key)
    if len(counts) < 16:
        return "too few distinct characters"
    entropy = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    if entropy < 3.5:
        return "too little entropy (a repeated or predictable pattern)"
    for period in range(1, len(key) // 2 + 1):
        if key == (key[:period] * (len(key) // period + 1))[: len(key)]:
            return "a repeated pattern"
    return None


class Settings(BaseSettings):
    """Every knob of the service; each one is documented in `.env.example`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    tipbot_env: Environment = Environment.DEV
    tipbot_secret_key: SecretStr | None = None
    # Production: a file outside DATA_DIR (or TIPBOT_SECRET_KEY): a copy of the data
    # folder must not carry the key that opens it.
    tipbot_secret_key_file: Path | None = None
    data_dir: Path = Path("./data")
    database_url: str | None = None
    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL|EXTRA)$")
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    log_level: str = "INFO"

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str | None = None
    telegram_api_file_url: str | None = None
    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_poll_timeout_s: int = Field(default=30, ge=0, le=50)
    telegram_rate_per_second: float = Field(default=30.0, ge=0)
    telegram_chat_interval_s: float = Field(default=1.0, ge=0)
    telegram_group_interval_s: float = Field(default=3.1, ge=0)
    telegram_max_download_mb: int = Field(default=20, ge=1)
    # Paid broadcasts (decision 0017): campaigns confirmed as paid go out with
    # allow_paid_broadcast, up to telegram_paid_rate_per_second, for a fee in Stars
    # from the bot's balance (the Bot API states 0.1 Star per message).
    broadcast_paid: bool = False
    telegram_paid_rate_per_second: float = Field(default=1000.0, gt=0, le=1000)
    broadcast_paid_stars_per_message: float = Field(default=0.1, ge=0)

    # Zalo's Bot Platform (on when the token is set; decision 0015).
    zalo_bot_token: SecretStr | None = None
    zalo_api_base_url: str = "https://bot-api.zaloplatforms.com"
    zalo_mode: ZaloMode = ZaloMode.POLLING
    zalo_webhook_url: str | None = None
    zalo_webhook_secret: SecretStr | None = None
    zalo_poll_timeout_s: int = Field(default=30, ge=1, le=50)
    # No rate is published; 429 "Quota exceeded" carries no retry_after. Conservative.
    zalo_rate_per_second: float = Field(default=5.0, ge=0)
    zalo_chat_interval_s: float = Field(default=1.0, ge=0)
    zalo_max_download_mb: int = Field(default=10, ge=1)

    web_host: str = "127.0.0.1"
    # /healthz shows queue figures to loopback, or to a request with this bearer token.
    health_token: SecretStr | None = None
    web_port: int = Field(default=8080, ge=0, le=65535)
    # Where people reach this service from outside (https://…): the URL printed, named
    # to Zalo users whose messages Zalo hides from bots, and in links Zalo cannot show.
    public_url: str | None = None
    webhook_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    web_pow_bits: int = Field(default=16, ge=0, le=28)
    web_secure_cookie: bool = False
    web_embed_origins: str = Field(default="*", pattern=r"^[\w\s*:/.\-']+$")
    web_max_upload_mb: int = Field(default=20, ge=1)
    web_messages_per_minute: int = Field(default=30, ge=1)
    web_uploads_per_hour: int = Field(default=20, ge=1)
    web_sessions_per_hour: int = Field(default=20, ge=1)

    default_locale: str = Field(default="vi", pattern="^(vi|en)$")
    default_province: str = "ha_noi"
    draft_ttl_minutes: int = Field(default=24 * 60, ge=1)
    tips_per_hour: int = Field(default=5, ge=1)
    flood_burst: int = Field(default=8, ge=1)
    flood_rate_per_second: float = Field(default=1.0, gt=0)
    status_checks_per_hour: int = Field(default=10, ge=1)
    max_attachments: int = Field(default=30, ge=1)
    max_description_chars: int = Field(default=20_000, ge=100)

    # Argon2id cost for receipts; see docs/decisions/0005-receipt-hash-cost.md.
    receipt_hash_time_cost: int = Field(default=1, ge=1)
    receipt_hash_memory_kib: int = Field(default=8192, ge=8)
    receipt_stock: int = Field(default=256, ge=0)

    # Officer workflow: claim deadlines before escalation, alert batching, digests.
    claim_urgent_minutes: int = Field(default=10, ge=1)
    claim_normal_hours: int = Field(default=24, ge=1)
    alerts_per_minute_per_destination: int = Field(default=20, ge=1)
    alert_batch_over: int = Field(default=3, ge=1)
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_weekday: int = Field(default=0, ge=0, le=6)  # 0 = Monday
    invite_ttl_days: int = Field(default=7, ge=1)

    # Privacy: how long an open tip can reach its tipster (after that, pull-only), and
    # how long an idle conversation row (with its sealed chat address) is kept.
    followup_days: int = Field(default=30, ge=1)
    conversation_idle_minutes: int = Field(default=60, ge=5)
    # Retention of closed tips (with their files and thread), by how they closed.
    retention_resolved_days: int = Field(default=365, ge=1)
    retention_unfounded_days: int = Field(default=180, ge=1)
    retention_spam_days: int = Field(default=30, ge=1)

    delivery_max_attempts: int = Field(default=12, ge=1)
    delivery_concurrency: int = Field(default=8, ge=1)
    # How long a sender holds the messages it claimed: a replica that dies mid-send
    # leaves them to the others after this (longer than any one send may take).
    delivery_lease_s: int = Field(default=60, ge=20)
    inbox_batch_size: int = Field(default=200, ge=1)
    inbox_retention_hours: int = Field(default=48, ge=1)
    # Names this process in logs and /healthz when several replicas share PostgreSQL.
    replica_id: str | None = Field(default=None, max_length=64)

    @property
    def replica(self) -> str:
        return self.replica_id or os.uname().nodename[:64]

    # Admins may sign in to the desk only with a second factor (`tipbot staff totp`).
    staff_require_2fa: bool = False
    # The desk's map: a tile server ({z}/{x}/{y}); without one, coordinates and links.
    map_tile_url: str | None = Field(default=None, pattern=r"^https?://[^\s\"'<>]+$")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        # `.env.example` lists every key; an empty value means "not set", not "".
        field = cls.model_fields.get(info.field_name or "")
        if value == "" and field is not None and field.default is None:
            return None
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        given = self.tipbot_secret_key is not None or self.tipbot_secret_key_file is not None
        if self.tipbot_env is Environment.PROD and not given:
            raise ValueError("prod needs TIPBOT_SECRET_KEY or TIPBOT_SECRET_KEY_FILE")
        if self.tipbot_secret_key is not None:
            weak = key_weakness(self.tipbot_secret_key.get_secret_value())
            if weak:
                raise ValueError(
                    f"TIPBOT_SECRET_KEY is weak ({weak}); make one with "
                    "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
        if self.tipbot_secret_key_file is not None and self.tipbot_env is Environment.PROD:
            key_file = self.tipbot_secret_key_file.resolve()
            if key_file.is_relative_to(self.data_dir.resolve()):
                raise ValueError("TIPBOT_SECRET_KEY_FILE must be outside DATA_DIR in prod")
        if self.map_tile_url and not all(p in self.map_tile_url for p in ("{z}", "{x}", "{y}")):
            raise ValueError("MAP_TILE_URL needs {z}, {x} and {y} (e.g. …/{z}/{x}/{y}.png)")
        if (
            self.map_tile_url
            and self.tipbot_env is Environment.PROD
            and not self.map_tile_url.startswith("https://")
        ):
            raise ValueError("prod needs an https:// MAP_TILE_URL (tiles reveal where staff look)")
        if self.zalo_mode is ZaloMode.WEBHOOK and self.zalo_bot_token is not None:
            secret = self.zalo_webhook_secret.get_secret_value() if self.zalo_webhook_secret else ""
            if not (self.zalo_webhook_url and 8 <= len(secret) <= 256):
                raise ValueError(
                    "Zalo webhook mode needs ZALO_WEBHOOK_URL and a ZALO_WEBHOOK_SECRET of "
                    "8 to 256 characters"
                )
        if self.telegram_mode is TelegramMode.WEBHOOK and not (
            self.telegram_webhook_url and self.telegram_webhook_secret
        ):
            raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET")
        return self

    @property
    def resolved_database_url(self) -> str:
        """Return DATABASE_URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tipbot.db').as_posix()}"

    @property
    def telegram_file_url(self) -> str | None:
        """Derive the file URL from the API URL (…/bot → …/file/bot) unless given."""
        if self.telegram_api_file_url:
            return self.telegram_api_file_url
        if not self.telegram_api_base_url:
            return None
        base = self.telegram_api_base_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file"

    @property
    def key_beside_data(self) -> bool:
        """Dev with no key configured: the generated key sits in DATA_DIR, so a copy of
        the folder opens everything in it (said loudly at start)."""
        return self.tipbot_secret_key is None and self.tipbot_secret_key_file is None

    def secret_key(self) -> bytes:
        """Return the server secret: the setting, the key file, or (dev only) a key
        generated once into DATA_DIR."""
        if self.tipbot_secret_key is not None:
            return self.tipbot_secret_key.get_secret_value().encode()
        if self.tipbot_secret_key_file is not None:
            key = self.tipbot_secret_key_file.read_text().strip()
            weak = key_weakness(key)
            if weak:
                raise ValueError(f"the key in TIPBOT_SECRET_KEY_FILE is weak ({weak})")
            return key.encode()
        # Dev only (prod refuses to start without a key): a key file keeps pseudonyms and
        # sealed values stable across restarts without any configuration.
        path = self.data_dir / "secret.key"
        if not path.exists():
            private_dir(self.data_dir)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def private_dir(path: Path) -> Path:
    """Create a directory only its owner can enter (0700), or tighten an existing one."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
