"""Entry point the deployment checks share: `sms_emulator.main.create_app(settings)`."""

from sms_emulator.app import create_app

__all__ = ["create_app"]
