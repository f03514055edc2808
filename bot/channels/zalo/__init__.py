"""The Zalo channel (see `channel.py`)."""

from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.parse import NAME

__all__ = ["NAME", "ZaloChannel"]
