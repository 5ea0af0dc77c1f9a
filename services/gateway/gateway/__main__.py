"""`python -m gateway`: serve the REST API on GATEWAY_HOST:GATEWAY_PORT (default 127.0.0.1:8000)."""

import uvicorn

from gateway.app import create_app
from gateway.settings import get_settings
from shared.logs import setup_logging
from shared.tracing import setup_tracing


def main() -> None:
    settings = get_settings()
    setup_logging("gateway", settings.log_level, as_json=settings.log_json)
    setup_tracing("gateway")
    # proxy_headers: behind a trusted proxy (FORWARDED_ALLOW_IPS) the client IP used by the login
    # throttle and the scheme used for Secure cookies come from X-Forwarded-For / -Proto.
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                proxy_headers=True, server_header=False)


if __name__ == "__main__":
    main()
