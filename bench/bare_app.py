"""The yardstick for the session list: a bare FastAPI route serving the same JSON from memory.

`python -m bench.bare_app <json file> <port>` serves `GET /api/chat-sessions/` with uvicorn configured
as the gateway's `__main__` configures it, so the ratio measures the platform, not the server.
"""

import json
import logging
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse


def create_app(items: list) -> FastAPI:
    app = FastAPI()

    @app.get("/api/chat-sessions/")
    async def list_sessions() -> JSONResponse:
        return JSONResponse(items)  # serialised per request, as the gateway's route does

    return app


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    logging.basicConfig(level=logging.WARNING)
    items = json.loads(Path(argv[0]).read_text())
    uvicorn.run(create_app(items), host="127.0.0.1", port=int(argv[1]), log_config=None,
                proxy_headers=True, server_header=False)


if __name__ == "__main__":
    main(sys.argv[1:])
