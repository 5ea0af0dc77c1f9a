"""The HTTP face every back-end service shares: `/healthz`, `/readyz` (metrics are on their own port:
`shared.metrics.serve_metrics`).

A back-end service is a FastAPI app whose lifespan starts its FastStream broker (the deprecated
FastStream-FastAPI plugin is not used) and whose readiness checks each dependency.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)
ReadinessCheck = Callable[[], Awaitable[object]]


def add_health_routes(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        results = {}
        for name, check in checks.items():
            try:
                ok = await asyncio.wait_for(check(), timeout=3)
                results[name] = bool(ok if ok is not None else True)
            except Exception as exc:  # readiness reports failures, it never raises
                log.debug("readiness check %s failed: %s", name, exc)
                results[name] = False
        ready = all(results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)
