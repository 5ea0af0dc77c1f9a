"""GET /api/chat-sessions/{id}/stream/: Server-Sent Events of a session's replies."""

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from gateway.backends import Rpc
from gateway.cookies import SESSION_COOKIE
from gateway.deps import CurrentUser, SessionId, runtime
from gateway.stream import session_events
from shared.contracts import chat as c
from shared.errors import ValidationFailed

router = APIRouter(prefix="/api/chat-sessions", tags=["streaming"])
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping")


@router.get(
    "/{session_id}/stream/",
    summary="Server-Sent Events: reply.queued, reply.delta, reply.completed, reply.failed, session.title",
    response_class=EventSourceResponse,
    responses={200: {"description": "An endless event stream: a `retry:` line first, `: ping` comments "
                     "while idle; it ends when the session is deleted or the login ends",
                     "content": {"text/event-stream": {}}}},
)
async def stream(
    session_id: SessionId,
    user: CurrentUser,
    rpc: Rpc,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
):
    if last_event_id is not None and not EVENT_ID.match(last_event_id):
        raise ValidationFailed("Last-Event-ID is not an event id of this stream.",
                               fields={"Last-Event-ID": ["Not an event id of this stream."]})
    await rpc.call(c.RpcNames.GET_SESSION, c.SessionQuery(user_id=user.id, session_id=session_id))  # 404 if not yours
    rt = runtime(request)
    cookie = request.cookies.get(SESSION_COOKIE)

    async def login_alive() -> bool:
        # The cookie login that opened the stream; a stream opened otherwise is not re-checked here.
        return cookie is None or await rt.sessions.get(cookie) is not None

    events = session_events(rt.stream_redis, session_id, user.id, last_event_id,
                            login_alive=login_alive)
    return EventSourceResponse(events, ping=rt.settings.stream_ping_seconds, ping_message_factory=_ping)
