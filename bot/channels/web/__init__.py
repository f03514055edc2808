"""The web chat channel (see `channel.py`)."""

from bot.channels.web.channel import COOKIE, CSP, WebChannel
from bot.channels.web.limits import Buckets, WebLimits
from bot.channels.web.parse import NAME

__all__ = ["COOKIE", "CSP", "NAME", "Buckets", "WebChannel", "WebLimits"]
