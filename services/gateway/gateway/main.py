"""Entry point every service shares: `<package>.main.create_app(settings)` (the factory is in app.py)."""

from gateway.app import create_app

__all__ = ["create_app"]
