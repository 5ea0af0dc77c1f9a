"""`python -m telegram_emulator`: serve the Telegram Bot API emulator (127.0.0.1:8093 by default)."""

import uvicorn

from shared.logs import setup_logging
from telegram_emulator.app import create_app
from telegram_emulator.settings import get_settings


def main() -> None:
    settings = get_settings()
    setup_logging("telegram-emulator", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
