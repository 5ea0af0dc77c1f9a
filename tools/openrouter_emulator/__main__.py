"""`python -m openrouter_emulator`: serve the OpenRouter emulator (127.0.0.1:8090 by default)."""

import uvicorn

from openrouter_emulator.app import create_app
from openrouter_emulator.settings import get_settings
from shared.logs import setup_logging


def main() -> None:
    settings = get_settings()
    setup_logging("emulator", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
