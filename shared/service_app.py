"""The HTTP face every back-end service shares: `/healthz`, `/readyz` (metrics are on their own port:
`shared.metrics.serve_metrics`).

A back-end service is a FastAPI app whose lifespan starts its FastStream broker (the deprecated
FastStream-FastAPI plugin is not used) and whose readiness checks each dependency.
"""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

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


async def _database_ready(state: Mapping[str, Any]) -> bool:
    async with state["engine"].connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


async def _broker_ready(state: Mapping[str, Any]) -> bool:
    return await state["broker"].ping(timeout=2)


async def _redis_ready(state: Mapping[str, Any]) -> bool:
    return bool(await state["redis"].ping())


_CHECKS = {"database": _database_ready, "broker": _broker_ready, "redis": _redis_ready}


def dependency_checks(state: Mapping[str, Any], *names: str) -> dict[str, ReadinessCheck]:
    """Readiness checks of the named dependencies (`database`, `broker`, `redis`), each reading its
    client from the lifespan's `state` (`engine`, `broker`, `redis`) when asked, not when built."""
    return {name: functools.partial(_CHECKS[name], state) for name in names}
