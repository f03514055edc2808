"""Keys apart from data, weak keys refused, content sealed with associated data, the
tip limit counted in memory under unlinkable keys, and what a settings error prints
(issue 10, findings 1, 2 and 10)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, key_weakness
from handlers.domain.quota import TipQuota
from storage import inbox
from storage.db import Database
from storage.migrate import upgrade_async
from storage.vault import Vault, VaultError
from tests.harness import ROOT, SECRET, process_env

STRONG = secrets.token_urlsafe(48)


@pytest.mark.parametrize(
    "key",
    [
        "change-me",
        "a" * 32,
        "a" * 64,
        "abcd" * 16,
        "change-me-change-me-change-me-change-me",
        "my-secret-key-for-the-tipbot-2026-hanoi",
        "0123456789" * 4,
        "changeme-Q8vT2pLx9RkW4sYz7NbH3mJc6FdG1aUe",
        "TODO_put_a_real_key_here_Q8vT2pLx9RkW4sYz7N",
    ],
)
def test_weak_keys_are_refused_in_every_mode(key: str, tmp_path: Path) -> None:
    assert key_weakness(key) is not None
    for env in ("dev", "prod"):
        with pytest.raises(ValidationError, match=r"weak|shorter"):
            Settings(_env_file=None, tipbot_env=env, tipbot_secret_key=key, data_dir=tmp_path)  # type: ignore[call-arg]


def test_generated_keys_pass() -> None:
    for _ in range(50):
        assert key_weakness(secrets.token_urlsafe(48)) is None
    assert key_weakness(SECRET) is None
    # Once refused by a substring check ("XxX"): a placeholder is a word, not letters.
    assert key_weakness("Ht5snaPYkGO00Oxmcx7TBol8zPHQlwoqQCia8ZWlKWnkXxXm-OkDGKLk0SxY9B_K") is None


def test_prod_needs_a_key_kept_outside_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(ValidationError, match="TIPBOT_SECRET_KEY"):
        Settings(_env_file=None, tipbot_env="prod", data_dir=data)  # type: ignore[call-arg]
    inside = data / "key"
    with pytest.raises(ValidationError, match="outside DATA_DIR"):
        Settings(_env_file=None, tipbot_env="prod", data_dir=data, tipbot_secret_key_file=inside)  # type: ignore[call-arg]
    outside = tmp_path / "keys" / "tipbot.key"
    outside.parent.mkdir()
    outside.write_text(STRONG + "\n")
    settings = Settings(
        _env_file=None, tipbot_env="prod", data_dir=data, tipbot_secret_key_file=outside
    )  # type: ignore[call-arg]
    assert settings.secret_key() == STRONG.encode() and not settings.key_beside_data
    outside.write_text("change-me-change-me-change-me-change-me")
    with pytest.raises(ValueError, match="weak"):
        settings.secret_key()


def test_dev_generates_a_private_key_and_says_it_sits_beside_the_data(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    assert settings.key_beside_data
    key = settings.secret_key()
    assert key_weakness(key.decode()) is None
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert settings.secret_key() == key  # stable across calls and restarts


def test_a_settings_error_names_the_setting_never_its_value(tmp_path: Path) -> None:
    token_tail = "zzTOKENtailSECRETzz"
    env = process_env(tmp_path)
    env.update(TELEGRAM_POLL_TIMEOUT_S=f"x{token_tail}", TIPBOT_SECRET_KEY=SECRET)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "TELEGRAM_POLL_TIMEOUT_S" in done.stderr
    assert token_tail not in done.stderr + done.stdout
    env.update(TELEGRAM_POLL_TIMEOUT_S="1", TIPBOT_SECRET_KEY="a" * 40 + token_tail)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "TIPBOT_SECRET_KEY" in done.stderr
    assert token_tail not in done.stderr + done.stdout
    assert ROOT.exists()


def test_sealed_values_open_only_in_their_row_and_with_their_key() -> None:
    vault = Vault(STRONG.encode())
    sealed = vault.seal("Số 9 ngõ Hẻo", "tips.description:tip-1")
    assert "ngõ" not in sealed and sealed.startswith(f"s1.{vault.kid}.")
    assert vault.open(sealed, "tips.description:tip-1") == "Số 9 ngõ Hẻo"
    with pytest.raises(VaultError):
        vault.open(sealed, "tips.description:tip-2")  # moved to another row
    with pytest.raises(VaultError):
        vault.open(sealed, "tips.contact_phone:tip-1")  # moved to another column
    with pytest.raises(VaultError):
        Vault(secrets.token_urlsafe(48).encode()).open(sealed, "tips.description:tip-1")
    rotated = Vault(secrets.token_urlsafe(48).encode(), STRONG.encode())  # new key, old kept
    assert rotated.open(sealed, "tips.description:tip-1") == "Số 9 ngõ Hẻo"
    assert not rotated.is_current(sealed)
    assert vault.open("written before sealing", "x") == "written before sealing"
    assert vault.open_json({"legacy": 1}, "x") == {"legacy": 1}


def test_tip_limit_counts_in_memory_under_keys_that_name_nobody() -> None:
    quota = TipQuota()
    now = datetime(2026, 11, 30, 3, 10, tzinfo=UTC)
    assert [quota.allow("pseudonym-a", now, 2) for _ in range(3)] == [True, True, False]
    assert quota.allow("pseudonym-b", now, 2)
    assert all(b"pseudonym" not in key for key in quota._counts)  # HMAC'd with a salt
    assert quota.allow("pseudonym-a", now + timedelta(hours=1), 2)  # a new hour, a new salt


async def test_a_given_up_update_keeps_no_payload(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    await upgrade_async(url)
    db = Database(url, vault=Vault(STRONG.encode()))
    now = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        async with db.write() as conn:
            await inbox.add(conn, "telegram", [("1", {"text": "Bí mật"})], now)
            row = (await inbox.pending(conn, 1))[0]
            assert row.payload == {"text": "Bí mật"}
            for _ in range(inbox.MAX_ATTEMPTS):
                await inbox.mark_failed(conn, row.id, now)
            stored = (await conn.exec_driver_sql("SELECT status, payload FROM inbox")).one()
        assert stored.status == "dead" and stored.payload is None
    finally:
        await db.dispose()
    assert "Bí mật".encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("t.db*"))
    assert os.path.exists(tmp_path / "t.db")
