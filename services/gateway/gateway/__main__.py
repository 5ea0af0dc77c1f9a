"""`python -m gateway`: serve the REST API on GATEWAY_HOST:GATEWAY_PORT (default 127.0.0.1:8000)."""

from gateway.app import create_app
from gateway.http_server import MAX_HEADER_BYTES, guarded_protocol
from gateway.settings import get_settings
from shared.serve import serve


def main() -> None:
    settings = get_settings()
    # proxy_headers off: the app reads X-Forwarded-For / -Proto itself, from FORWARDED_ALLOW_IPS only
    # (gateway.client_ip); uvicorn's own default would trust 127.0.0.1.
    protocol = guarded_protocol(header_read_timeout=settings.header_read_timeout_seconds,
                                body_idle_timeout=settings.body_idle_timeout_seconds)
    serve("gateway", settings, create_app, proxy_headers=False, server_header=False, http=protocol,
          h11_max_incomplete_event_size=MAX_HEADER_BYTES + 1024)


if __name__ == "__main__":
    main()
