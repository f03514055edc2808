"""The `tipbot` command as a newcomer uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fakes.updates import Citizen
from tests.harness import Harness, process_env, run_tipbot, tipbot
from tests.journeys import walk_to


async def test_tips_lists_codes_without_contact_details(bot: Harness, tmp_path: Path) -> None:
    who = Citizen(8001)
    await walk_to(bot, who, "contact")
    await bot.say(who, who.text("0912345678"))
    done = (await bot.press(who, "Gửi tin báo"))[-1].text
    await bot.stop()
    result = await run_tipbot("tips", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = [row for row in result.stdout.splitlines() if "theft_robbery" in row]
    assert len(line) == 1 and line[0].split()[0] in done
    assert "912345678" not in result.stdout and "Mất xe máy" not in result.stdout


def test_run_without_token_serves_http_and_says_so(tmp_path: Path) -> None:
    env = process_env(tmp_path, WEB_PORT="0")
    del env["TIPBOT_SECRET_KEY"]  # as on a fresh machine: dev generates one
    env.pop("DATABASE_URL", None)  # and SQLite in the data folder, whatever the suite uses
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--replica-id", "web-1"],
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
        assert first.rstrip().endswith("(channels: web)")  # the desk is no way in
        assert "TELEGRAM_BOT_TOKEN" in proc.stdout.readline()
        assert "ZALO_BOT_TOKEN" in proc.stdout.readline()
        url = first.split("Web chat: ")[1].split()[0].removesuffix("chat")
        import urllib.request

        with urllib.request.urlopen(url + "healthz", timeout=10) as response:
            health = response.read()
        assert b'"ok":true' in health
        assert b'"replica":"web-1"' in health and b'"leader":true' in health  # loopback
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


async def test_bootstrap_units_and_first_admin_from_the_cli(bot: Harness, tmp_path: Path) -> None:
    await bot.stop()
    name = "Công an phường Hoàn Kiếm"
    made = await run_tipbot("unit", "add", name, "--wards", "Hoàn Kiếm", cwd=tmp_path)
    assert made.returncode == 0 and "unit 1" in made.stdout, made.stderr
    nowhere = await run_tipbot("unit", "add", "X", "--wards", "Nowhere at all", cwd=tmp_path)
    assert nowhere.returncode == 2
    no_unit = await run_tipbot("invite", "--role", "officer", cwd=tmp_path)
    assert no_unit.returncode == 2  # an officer needs --unit
    admin_invite = await run_tipbot("invite", "--role", "admin", "--name", "Chief", cwd=tmp_path)
    assert admin_invite.returncode == 0, admin_invite.stderr
    code = admin_invite.stdout.split("/join ")[1].split()[0]

    # The printed code makes its user an admin, once.
    await bot.start()
    chief, other = Citizen(8101), Citizen(8102)
    assert "quản trị" in (await bot.say(chief, chief.text(f"/join {code}")))[-1].text
    assert "không hợp lệ" in (await bot.say(other, other.text(f"/join {code}")))[-1].text
    assert "Hoàn Kiếm" in (await bot.say(chief, chief.text("/units")))[-1].text
    await bot.stop()

    digest = await run_tipbot("digest", "--day", "2026-11-26", cwd=tmp_path)
    assert digest.returncode == 0, digest.stderr
    assert (
        "Báo cáo ngày 26/11/2026" in digest.stdout
        and "Tổng số tin báo nhận được: 0" in digest.stdout
    )
    chart = Path(digest.stdout.split("chart: ")[1].strip())
    assert (tmp_path / chart if not chart.is_absolute() else chart).exists()
    audit = await run_tipbot("audit", cwd=tmp_path)
    assert "cli.invite" in audit.stdout and "join" in audit.stdout and "denied" in audit.stdout
