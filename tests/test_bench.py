"""The benchmarks still run and end with their verdict line (a fixed interface others
rely on). Tiny sizes: this checks that they work, never how fast anything is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "args", "verdict"),
    [
        (
            "intake.py",
            [
                "--citizens",
                "20",
                "--drafts",
                "200",
                "--seconds",
                "4",
                "--rate",
                "50",
                "--steady-citizens",
                "50",
            ],
            r"^ratio=\d+\.\d+ p99_ms=\d+\.\d+$",
        ),
        (
            "broadcast.py",
            ["--recipients", "60"],
            r"^ratio=\d+\.\d+ 429s=\d+ duplicates=\d+$",
        ),
        (
            "broadcast.py",
            ["--paid", "--recipients", "200"],
            r"^ratio=\d+\.\d+ 429s=\d+ duplicates=\d+$",
        ),
    ],
)
def test_a_benchmark_runs_and_prints_its_verdict_last(
    script: str, args: list[str], verdict: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.match(verdict, last), last
    if script == "intake.py":  # the steady p99 comes with what the disk did meanwhile
        probed = re.search(r"disk beside the database: (\d+) fsyncs", done.stdout)
        assert probed and int(probed.group(1)) > 0, done.stdout


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TIPBOT_TEST_POSTGRES_URL"), reason="PostgreSQL is not configured"
)
def test_the_replicas_benchmark_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "replicas.py"), "--citizens", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.match(r"^ratio=\d+\.\d+$", done.stdout.strip().splitlines()[-1])
