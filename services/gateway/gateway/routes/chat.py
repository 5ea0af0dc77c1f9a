"""Chat sessions and their messages: /api/chat-sessions/…"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from gateway import chat_schemas as s
from gateway.backends import RedisClient, Rpc
from gateway.chat_exchanges import run_exchange
from gateway.deps import CurrentUser, Lists, MessageId, Plans, SessionId
from gateway.idempotency import IdempotencyKeyReused, IdempotencyStore, check_key
from gateway.pagination import Pages, envelope
from gateway.plans import PlanCache
from gateway.schemas import USAGE_LIMIT_RESPONSE, ErrorBody, conflict
from gateway.session_lists import SessionLists
from gateway.stream import end_streams
from shared.contracts import chat as c
from shared.errors import DomainError

router = APIRouter(prefix="/api/chat-sessions", tags=["chat sessions"])


def _message(payload: dict) -> dict:
    """User messages carry reply_status/reply_error; assistant messages do not."""
    if payload.get("message_type") == "assistant":
        payload = {k: v for k, v in payload.items() if k not in ("reply_status", "reply_error")}
    return payload


def _session_query(user: Any, session_id: int) -> c.SessionQuery:
    return c.SessionQuery(user_id=user.id, session_id=session_id)


@router.get("/", response_model=list[s.ChatSession] | dict, summary="List your chat sessions, newest first")
async def list_sessions(request: Request, user: CurrentUser, lists: Lists, params: Pages):
    if params.page is None:
        return Response(await lists.body(user.id), media_type="application/json")
    query = c.ListSessions(user_id=user.id, offset=params.offset, limit=params.size)
    page = await lists.rpc.call(c.RpcNames.LIST_SESSIONS, query)
    return JSONResponse(envelope(request, params, page["count"], page["items"]))


@router.post("/", status_code=201, response_model=s.ChatSession, summary="Create a chat session")
async def create_session(body: s.CreateSessionBody, user: CurrentUser, rpc: Rpc, plans: Plans, lists: Lists):
    plan_id = await plans.plan_id(user.id)
    command = c.CreateSession(user_id=user.id, plan_id=plan_id, **body.model_dump())
    created = await lists.changing(user.id, rpc.call(c.RpcNames.CREATE_SESSION, command))
    return JSONResponse(created, status_code=201)


@router.get("/{session_id}/", response_model=s.ChatSession, summary="Get one of your chat sessions")
async def get_session(session_id: SessionId, user: CurrentUser, rpc: Rpc):
    return JSONResponse(await rpc.call(c.RpcNames.GET_SESSION, _session_query(user, session_id)))


async def _update(session_id: int, body: s.UpdateSessionBody, user: Any, rpc: Any, plans: PlanCache,
                  lists: SessionLists) -> JSONResponse:
    plan_id = await plans.plan_id(user.id)
    # null means "not changing it", as an omitted field does (chat treats None as unset).
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "title" in fields and "auto_generate_title" not in fields:
        fields["auto_generate_title"] = False
    command = c.UpdateSession(user_id=user.id, session_id=session_id, plan_id=plan_id, **fields)
    return JSONResponse(await lists.changing(user.id, rpc.call(c.RpcNames.UPDATE_SESSION, command), session_id))


@router.put("/{session_id}/", response_model=s.ChatSession, summary="Update a chat session")
async def put_session(session_id: SessionId, body: s.UpdateSessionBody, user: CurrentUser, rpc: Rpc, plans: Plans,
                      lists: Lists):
    return await _update(session_id, body, user, rpc, plans, lists)


@router.patch("/{session_id}/", response_model=s.ChatSession, summary="Partly update a chat session")
async def patch_session(session_id: SessionId, body: s.UpdateSessionBody, user: CurrentUser, rpc: Rpc, plans: Plans,
                        lists: Lists):
    return await _update(session_id, body, user, rpc, plans, lists)


@router.delete("/{session_id}/", response_model=s.Success, summary="Delete a chat session")
async def delete_session(session_id: SessionId, user: CurrentUser, rpc: Rpc, lists: Lists, redis: RedisClient):
    await lists.changing(user.id, rpc.call(c.RpcNames.DELETE_SESSION, _session_query(user, session_id)), session_id)
    await end_streams(redis, session_id)  # its open event streams end, on every replica
    return {"success": True}


@router.get("/{session_id}/messages/", response_model=s.MessageList, summary="Messages of a session, oldest first")
async def list_messages(
    session_id: SessionId,
    user: CurrentUser,
    rpc: Rpc,
    after: Annotated[UUID | None, Query(description="Only the messages after this message_id")] = None,
    before: Annotated[UUID | None, Query(description="Only the messages before this message_id")] = None,
    limit: Annotated[int | None, Query(ge=1, le=c.MAX_MESSAGE_PAGE,
                                       description="Only the newest N (oldest first); adds `has_more`")] = None,
):
    query = c.ListMessages(user_id=user.id, session_id=session_id, after=after, before=before, limit=limit)
    page = await rpc.call(c.RpcNames.LIST_MESSAGES, query)
    body: dict[str, Any] = {"messages": [_message(m) for m in page["messages"]]}
    if limit is not None:  # without a limit the body stays as documented: every message
        body["has_more"] = page["has_more"]
    return JSONResponse(body)


def _rate_headers(admission_rate: Any) -> dict[str, str]:
    if admission_rate is None:
        return {}
    return {
        "X-RateLimit-Limit": str(admission_rate.limit),
        "X-RateLimit-Remaining": str(admission_rate.remaining),
        "X-RateLimit-Reset": str(admission_rate.reset_seconds),
    }


@router.post(
    "/{session_id}/send/",
    status_code=201,
    response_model=s.SendResult,
    summary="Send a message; the reply is produced asynchronously",
    responses={
        **conflict("A reply is still in progress (`code`: reply_in_progress), or a request with this "
                   "Idempotency-Key is (`code`: request_in_progress)"),
        422: {"model": ErrorBody, "description": "This Idempotency-Key came with another body "
              "(`code`: idempotency_key_reused)"},
        **USAGE_LIMIT_RESPONSE,
    },
)
async def send(
    session_id: SessionId,
    body: s.SendBody,
    user: CurrentUser,
    rpc: Rpc,
    plans: Plans,
    lists: Lists,
    redis: RedisClient,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    key = check_key(idempotency_key)
    store = IdempotencyStore(redis)
    scope = f"send:{session_id}"
    fingerprint = store.fingerprint(body.model_dump())
    if key is not None:
        try:
            previous = await store.begin(user.id, scope, key, fingerprint)
        except IdempotencyKeyReused:
            return JSONResponse(
                {"error": "This Idempotency-Key was used with a different request body.", "code": "idempotency_key_reused"},
                status_code=422,
            )
        if previous is not None:
            return JSONResponse(previous["body"], status_code=previous["status"], headers=previous["headers"])
    try:
        stored = await lists.changing(user.id, run_exchange(rpc, plans, user.id, session_id, "send", content=body.message),
                                     session_id)
    except (DomainError, Exception):
        if key is not None:
            await store.abandon(user.id, scope, key)
        raise
    payload = {"user_message": _message(stored.user_message.model_dump(mode="json"))}
    headers = _rate_headers(stored.rate_limit)
    if key is not None:
        await store.finish(user.id, scope, key, fingerprint, 201, payload, headers)
    return JSONResponse(payload, status_code=201, headers=headers)


@router.post("/{session_id}/update-title/", response_model=s.TitleResult, summary="Rename a session")
async def update_title(session_id: SessionId, body: s.TitleBody, user: CurrentUser, rpc: Rpc, plans: Plans,
                       lists: Lists):
    plan_id = await plans.plan_id(user.id)
    command = c.UpdateSession(user_id=user.id, session_id=session_id, plan_id=plan_id, title=body.title,
                              auto_generate_title=False)
    session = await lists.changing(user.id, rpc.call(c.RpcNames.UPDATE_SESSION, command), session_id)
    return {"success": True, "title": session["title"]}


@router.post(
    "/{session_id}/messages/{message_id}/edit/",
    response_model=s.DisabledResult,
    summary="Edit a user message and regenerate the reply from there",
    responses={**conflict("A reply is still in progress (`code`: reply_in_progress)"), **USAGE_LIMIT_RESPONSE},
)
async def edit_message(
    session_id: SessionId, message_id: MessageId, body: s.EditBody, user: CurrentUser, rpc: Rpc, plans: Plans, lists: Lists
):
    edit = run_exchange(rpc, plans, user.id, session_id, "edit", content=body.content, message_id=message_id)
    stored = await lists.changing(user.id, edit, session_id)
    return {"success": True, "disabled_message_ids": [str(i) for i in stored.disabled_message_ids]}


@router.post("/{session_id}/regenerate/", status_code=202, response_model=s.DisabledResult,
             summary="Replace the last reply with a new one",
             responses={**conflict("A reply is still in progress (`code`: reply_in_progress)"), **USAGE_LIMIT_RESPONSE})
async def regenerate(session_id: SessionId, user: CurrentUser, rpc: Rpc, plans: Plans, lists: Lists):
    stored = await lists.changing(user.id, run_exchange(rpc, plans, user.id, session_id, "regenerate"), session_id)
    return JSONResponse(
        {"success": True, "disabled_message_ids": [str(i) for i in stored.disabled_message_ids]}, status_code=202
    )


@router.post("/{session_id}/stop/", status_code=202, response_model=s.Success, summary="Stop the reply in progress",
             responses=conflict("Nothing is in progress (`code`: no_reply_in_progress)"))
async def stop(session_id: SessionId, user: CurrentUser, rpc: Rpc) -> Response:
    await rpc.call(c.RpcNames.STOP_REPLY, _session_query(user, session_id))
    return JSONResponse({"success": True}, status_code=202)
