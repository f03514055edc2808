"""`tipbot rotate-key` (issue 10): after it, the service runs on the new key alone —
officers are still recognised, tips still read, tipsters still reached through the
follow-up link — and nothing sealed under the old key is left."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select

from storage.schema import metadata
from storage.vault import Vault, is_sealed
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.updates import Citizen
from tests.harness import SECRET, Harness, make_settings, process_env
from tests.officer_world import command, file_tip, standard_world

TEXT = "Kho hàng cấm ở số 3 ngõ Trúc Bạch"


async def test_rotating_the_key_keeps_everything_working_under_the_new_one(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    import asyncio
    import subprocess
    import sys

    bot = Harness(api, make_settings(tmp_path, api))
    await bot.start()
    world = await standard_world(bot)
    minh, tipster = world["minh"], Citizen(6601)
    code = await file_tip(bot, tipster, text=TEXT)
    await bot.stop()

    new_key = secrets.token_urlsafe(48)
    old_file = tmp_path.parent / f"{tmp_path.name}-old.key"
    old_file.write_text(SECRET)
    env = {**process_env(tmp_path), "TIPBOT_SECRET_KEY": new_key}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "rotate-key", "--old-key-file", str(old_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "re-sealed under key" in done.stdout

    rotated = Harness(api, make_settings(tmp_path, api, tipbot_secret_key=new_key))
    await rotated.start()
    try:
        replies = await rotated.say(minh, minh.text(f"/tip {code}"))  # Minh is still Minh
        assert any(TEXT in r.text for r in replies)
        await command(rotated, minh, f"/ask {code} Có mấy người?")
        assert "Có mấy người?" in rotated.api.sent(tipster.user_id)[-1].text  # still reached
        assert rotated.app is not None
        async with rotated.app.db.read() as conn:
            values = [
                value
                for table in metadata.sorted_tables
                for row in await conn.execute(select(table))
                for value in row
                if is_sealed(value)
                or (isinstance(value, bytes) and value.startswith(b"s1."))  # addresses
            ]
        current = Vault(new_key.encode())
        texts = [v.decode() if isinstance(v, bytes) else v for v in values]
        assert texts and all(current.is_current(v) for v in texts)
        assert any(isinstance(v, bytes) for v in values)  # chat addresses were checked too
    finally:
        await rotated.stop()
