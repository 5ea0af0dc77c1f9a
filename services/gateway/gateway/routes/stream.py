"""GET /api/chat-sessions/{id}/stream/: Server-Sent Events of a session's replies."""

import re
from typing import Annotated

from fastapi import APIRouter, Header
from sse_starlette.sse import EventSourceResponse

from gateway.backends import RedisClient, Rpc
from gateway.deps import CurrentUser, SessionId
from gateway.stream import session_events
from shared.contracts import chat as c
from shared.errors import ValidationFailed

router = APIRouter(prefix="/api/chat-sessions", tags=["streaming"])
EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@router.get(
    "/{session_id}/stream/",
    summary="Server-Sent Events: reply.queued, reply.delta, reply.completed, reply.failed, session.title",
    response_class=EventSourceResponse,
    responses={200: {"description": "An endless event stream", "content": {"text/event-stream": {}}}},
)
async def stream(
    session_id: SessionId,
    user: CurrentUser,
    rpc: Rpc,
    redis: RedisClient,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
):
    if last_event_id is not None and not EVENT_ID.match(last_event_id):
        raise ValidationFailed("Last-Event-ID is not an event id of this stream.",
                               fields={"Last-Event-ID": ["Not an event id of this stream."]})
    await rpc.call(c.Queries.GET_SESSION, c.SessionQuery(user_id=user.id, session_id=session_id))  # 404 if not yours
    return EventSourceResponse(session_events(redis, session_id, user.id, last_event_id), ping=15)
