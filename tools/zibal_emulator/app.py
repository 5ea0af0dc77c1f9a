"""Zibal's payment gateway as its merchants see it (docs: help.zibal.ir/IPG/API):

- `POST /v1/request {merchant, amount (rials), callbackUrl, orderId, description}` → `{result: 100, trackId}`
- `GET /start/{trackId}`: the payment page; `?outcome=paid|cancelled|failed` finishes it without a
  person: a 302 to `callbackUrl?success=&status=&trackId=&orderId=`, as Zibal redirects the browser
  (a settled track redirects the same way again).
- `POST /v1/verify {merchant, trackId}` → 100 (now verified), 201 (verified before), 202 (not paid).
- `POST /v1/inquiry {merchant, trackId}` → the track's `status` (-1 waiting, 1 verified, 2 paid and
  not verified, 3 cancelled, 4+ failed).

Test controls under `/_emulator/`: queue faults for the next calls of a route (slow answers, HTTP
errors, a verify that takes the money and then times out, a verify reporting another amount) and
read a track.
"""

import asyncio
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from zibal_emulator.settings import ZibalEmulatorSettings

WAITING, VERIFIED, PAID, CANCELLED, FAILED = -1, 1, 2, 3, 4
OUTCOMES = {"paid": PAID, "cancelled": CANCELLED, "failed": FAILED}
Route = Literal["request", "verify", "inquiry", "start"]


@dataclass
class Track:
    track_id: int
    merchant: str
    amount: int
    callback_url: str
    order_id: str
    description: str
    created_at: datetime
    status: int = WAITING
    paid_at: datetime | None = None
    verified_at: datetime | None = None
    verifies: int = 0


class Fault(BaseModel):
    route: Route
    # slow: answer after `seconds`; error: HTTP `status` and no effect; timeout (verify): do the
    # verify, then answer only after `seconds`; amount (verify/inquiry): report `amount + delta`.
    kind: Literal["slow", "error", "timeout", "amount"]
    seconds: float = Field(30.0, ge=0, le=600)
    status: int = Field(500, ge=400, le=599)
    delta: int = 10


class FaultsIn(BaseModel):
    faults: list[Fault]


@dataclass
class State:
    tracks: dict[int, Track] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(3_000_000_000 + secrets.randbelow(10**6) * 1000))

    def take_fault(self, route: str) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if fault.route == route:
                return self.faults.pop(i)
        return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment else None


def _with_query(url: str, params: dict[str, Any]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def create_app(settings: ZibalEmulatorSettings | None = None) -> FastAPI:
    settings = settings or ZibalEmulatorSettings()
    state = State()
    app = FastAPI(title="Zibal emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state

    async def body_of(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def apply_fault(route: str) -> tuple[Fault | None, JSONResponse | None]:
        fault = state.take_fault(route)
        if fault is None:
            return None, None
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        if fault.kind == "error":
            return fault, JSONResponse({"message": "internal error"}, status_code=fault.status)
        return fault, None

    def track_of(body: dict) -> Track | None:
        try:
            track = state.tracks.get(int(body.get("trackId")))
        except (TypeError, ValueError):
            return None
        if track is None or track.merchant != body.get("merchant"):
            return None
        return track

    async def track_call(route: Route, request: Request) -> tuple[Fault | None, Track | None, Any]:
        """The start of a call about one track (verify, inquiry): the fault queued for it and the track
        its body names, or (track None) the answer that ends the call first: an injected error or
        Zibal's 203 for a trackId this merchant does not have."""
        fault, failed = await apply_fault(route)
        if failed:
            return fault, None, failed
        track = track_of(await body_of(request))
        if track is None:
            return fault, None, {"result": 203, "message": "trackId is invalid"}
        return fault, track, None

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/request")
    async def request_payment(request: Request):
        _fault, failed = await apply_fault("request")
        if failed:
            return failed
        body = await body_of(request)
        merchant, amount, callback = body.get("merchant"), body.get("amount"), body.get("callbackUrl")
        if not isinstance(merchant, str) or not merchant:
            return {"result": 102, "message": "merchant not found"}
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < settings.min_amount_rials:
            return {"result": 105, "message": f"amount must be at least {settings.min_amount_rials} rials"}
        if not isinstance(callback, str) or urlsplit(callback).scheme not in ("http", "https"):
            return {"result": 106, "message": "callbackUrl is invalid"}
        track = Track(next(state.ids), merchant, amount, callback, str(body.get("orderId") or ""),
                      str(body.get("description") or ""), datetime.now(UTC))
        state.tracks[track.track_id] = track
        return {"trackId": track.track_id, "result": 100, "message": "success"}

    @app.get("/start/{track_id}")
    async def start(track_id: int, outcome: Literal["paid", "cancelled", "failed"] | None = None):
        _fault, failed = await apply_fault("start")
        if failed:
            return failed
        track = state.tracks.get(track_id)
        if track is None:
            return HTMLResponse("<h1>Unknown payment</h1>", status_code=404)
        if track.status == WAITING and outcome is None:
            links = "".join(f'<li><a href="?outcome={name}">{name}</a></li>' for name in OUTCOMES)
            return HTMLResponse(f"<h1>Zibal emulator</h1><p>{escape(track.description)}: {track.amount} rials</p>"
                                f"<ul>{links}</ul>")
        if track.status == WAITING:
            track.status = OUTCOMES[outcome]
            if track.status == PAID:
                track.paid_at = datetime.now(UTC)
        paid = track.status in (PAID, VERIFIED)
        params = {"success": 1 if paid else 0, "status": PAID if paid else track.status,
                  "trackId": track.track_id, "orderId": track.order_id}
        return RedirectResponse(_with_query(track.callback_url, params), status_code=302)

    def receipt(track: Track, fault: Fault | None) -> dict:
        amount = track.amount + (fault.delta if fault and fault.kind == "amount" else 0)
        return {"paidAt": _iso(track.paid_at), "cardNumber": "62741****44", "status": track.status,
                "amount": amount, "refNumber": track.track_id % 10**9, "description": track.description,
                "orderId": track.order_id}

    @app.post("/v1/verify")
    async def verify(request: Request):
        fault, track, answer = await track_call("verify", request)
        if track is None:
            return answer
        track.verifies += 1
        if track.status == VERIFIED:
            return {"result": 201, "message": "already verified", **receipt(track, fault)}
        if track.status != PAID:
            return {"result": 202, "message": "order not paid or failed", "status": track.status}
        track.status, track.verified_at = VERIFIED, datetime.now(UTC)
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(fault.seconds)  # the money is taken; the answer comes too late
        return {"result": 100, "message": "success", **receipt(track, fault)}

    @app.post("/v1/inquiry")
    async def inquiry(request: Request):
        fault, track, answer = await track_call("inquiry", request)
        if track is None:
            return answer
        return {"result": 100, "message": "success", "createdAt": _iso(track.created_at),
                "verifiedAt": _iso(track.verified_at), "wage": 0, **receipt(track, fault)}

    # --- test controls ----------------------------------------------------------------------------

    @app.post("/_emulator/faults")
    async def add_faults(body: FaultsIn) -> dict:
        state.faults.extend(body.faults)
        return {"queued": len(state.faults)}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict:
        state.faults.clear()
        return {"queued": 0}

    @app.get("/_emulator/tracks/{track_id}")
    async def get_track(track_id: int):
        track = state.tracks.get(track_id)
        if track is None:
            return JSONResponse({"detail": "unknown track"}, status_code=404)
        return {"trackId": track.track_id, "status": track.status, "amount": track.amount,
                "orderId": track.order_id, "verifies": track.verifies, "callbackUrl": track.callback_url}

    return app
