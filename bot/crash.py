"""Named crash points for the crash-safety tests (TIPBOT_CRASH_AT=<name>).

The process kills itself with SIGKILL, exactly like a power cut or an OOM kill: no
cleanup, no flush. Unset in production.
"""

from __future__ import annotations

import os
import signal


class CrashPoints:
    def __init__(self, armed: str | None) -> None:
        self.armed = armed or None

    def hit(self, name: str) -> None:
        if self.armed == name:
            os.kill(os.getpid(), signal.SIGKILL)
