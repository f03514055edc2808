"""The `tipbot` command as a newcomer uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fakes.updates import Citizen
from tests.harness import Harness, process_env, tipbot
from tests.test_intake_flow import walk_to


async def test_tips_lists_codes_without_contact_details(bot: Harness, tmp_path: Path) -> None:
    who = Citizen(8001)
    await walk_to(bot, who, "contact")
    await bot.say(who, who.text("0912345678"))
    done = (await bot.press(who, "Gửi tin báo"))[-1].text
    await bot.stop()
    result = tipbot("tips", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = [row for row in result.stdout.splitlines() if "theft_robbery" in row]
    assert len(line) == 1 and line[0].split()[0] in done
    assert "912345678" not in result.stdout and "Mất xe máy" not in result.stdout


def test_run_without_token_serves_http_and_says_so(tmp_path: Path) -> None:
    env = process_env(tmp_path, WEB_PORT="0")
    del env["TIPBOT_SECRET_KEY"]  # as on a fresh machine: dev generates one
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "Web chat: http://127.0.0.1:" in first
        assert "TELEGRAM_BOT_TOKEN" in proc.stdout.readline()
        url = first.split("Web chat: ")[1].split()[0].removesuffix("chat")
        import urllib.request

        with urllib.request.urlopen(url + "healthz", timeout=10) as response:
            assert b'"ok":true' in response.read()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert (tmp_path / "tipbot.db").exists() and (tmp_path / "secret.key").exists()


def test_prod_refuses_a_placeholder_secret(tmp_path: Path) -> None:
    result = tipbot("migrate", cwd=tmp_path)
    assert result.returncode == 0
    env_file = tmp_path / ".env"
    env_file.write_text("TIPBOT_ENV=prod\nTIPBOT_SECRET_KEY=change-me\n")
    env = process_env(tmp_path)
    del env["TIPBOT_SECRET_KEY"], env["DATA_DIR"]  # both come from .env here
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "TIPBOT_SECRET_KEY" in result.stderr
