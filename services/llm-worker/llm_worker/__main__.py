"""`python -m llm_worker`: run the llm-worker (health on port 8003, metrics on 9113)."""

import uvicorn

from llm_worker.main import create_app
from llm_worker.settings import get_settings
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.tracing import setup_tracing


def main() -> None:
    settings = get_settings()
    setup_logging("llm-worker", settings.log_level, as_json=settings.log_json)
    setup_tracing("llm-worker")
    serve_metrics(settings.metrics_port, settings.http_host)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    main()
