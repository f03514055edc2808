"""The Telegram channel (see `channel.py`)."""

from bot.channels.telegram.channel import ALLOWED_UPDATES, NAME, TelegramChannel

__all__ = ["ALLOWED_UPDATES", "NAME", "TelegramChannel"]
