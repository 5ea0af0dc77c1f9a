"""`python -m telegram_bot`: run the Telegram bot (HTTP on 8005: webhook and health; metrics on 9115)."""

import uvicorn

from shared.logs import setup_logging
from shared.metrics import serve_metrics
from telegram_bot.main import create_app
from telegram_bot.settings import get_settings


def main() -> None:
    settings = get_settings()
    setup_logging("telegram-bot", settings.log_level, as_json=settings.log_json)
    serve_metrics(settings.metrics_port, settings.http_host)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
