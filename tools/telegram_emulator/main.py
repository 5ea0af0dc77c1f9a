"""Entry point the deployment checks share: `telegram_emulator.main.create_app(settings)`."""

from telegram_emulator.app import create_app

__all__ = ["create_app"]
