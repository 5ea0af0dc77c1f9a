"""`python -m billing`: run the billing service."""

import uvicorn

from billing.main import create_app
from billing.settings import get_settings
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.tracing import setup_tracing


def main() -> None:
    settings = get_settings()
    setup_logging("billing", settings.log_level, as_json=settings.log_json)
    setup_tracing("billing")
    serve_metrics(settings.metrics_port, settings.http_host)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)


if __name__ == "__main__":
    main()
