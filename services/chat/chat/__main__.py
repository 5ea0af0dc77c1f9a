"""`python -m chat`: run the chat service."""

import uvicorn

from chat.main import create_app
from chat.settings import get_settings
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.tracing import setup_tracing


def main() -> None:
    settings = get_settings()
    setup_logging("chat", settings.log_level, as_json=settings.log_json)
    setup_tracing("chat")
    serve_metrics(settings.metrics_port, settings.http_host)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
