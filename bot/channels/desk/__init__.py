"""The officer desk as a channel (see `channel.py`)."""

from bot.channels.desk.channel import ACTIONS, NAME, DeskChannel

__all__ = ["ACTIONS", "NAME", "DeskChannel"]
