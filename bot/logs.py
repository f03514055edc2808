"""Logging that cannot leak a tipster: no request URLs (they hold the bot token), no
update bodies, no client addresses; a last-resort filter masks anything token-shaped."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _TOKEN.search(message):
            record.msg = _TOKEN.sub("[token]", message)
            record.args = None
        return True


def configure(level: str = "INFO") -> None:
    """Set up root logging once, at the entry point."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PTB logs whole updates at DEBUG: never below INFO, whatever the root level.
    for chatty in ("telegram", "uvicorn"):
        logging.getLogger(chatty).setLevel(max(logging.INFO, root.level))
    # The database layers log every statement (aiosqlite with its parameters, so tip
    # text) at DEBUG, and SQLAlchemy echoes SQL at INFO: warnings only.
    for chatty in ("aiosqlite", "sqlalchemy", "asyncpg"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # uvicorn's access log would record client addresses.
    logging.getLogger("uvicorn.access").disabled = True
