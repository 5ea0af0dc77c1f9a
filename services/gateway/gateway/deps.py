"""Route dependencies: the logged-in user (`CurrentUser`, `StaffUser`), CSRF, the RPC client and broker.

An `Authorization: Bearer` API token (gateway.tokens) is checked first and needs no CSRF token; a
bad one is 401 "Invalid token." whatever cookies come with it. Otherwise, order matters and is
fixed here: no live session → 401, before any CSRF check; then, on unsafe
methods, the X-CSRFToken header must equal the `csrftoken` cookie and the session's own token → 403.
"""

import hmac
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from faststream.rabbit import RabbitBroker

from gateway.audit import AuditLog
from gateway.backends import RedisClient, Rpc, runtime_part
from gateway.cookies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from gateway.errors import CsrfFailed, InvalidToken, NotAuthenticated, PermissionDenied
from gateway.models import User
from gateway.plans import PlanCache
from gateway.runtime import Runtime
from gateway.schemas import MAX_ID
from gateway.session_lists import SessionLists
from gateway.sessions import LoginSession
from shared.errors import NotFound

__all__ = [
    "Audit", "Broker", "CurrentUser", "Lists", "MessageId", "OptionalSession", "Plans", "RedisClient", "Rpc", "SessionId",
    "StaffUser", "check_csrf", "runtime",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="Login session cookie set by the auth routes. POST/PUT/PATCH/DELETE also need the "
    f"`{CSRF_HEADER}` header equal to the `{CSRF_COOKIE}` cookie.",
)
bearer_token = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token from `POST /api/auth/token/` or `POST /api/auth/tokens/`: "
    "`Authorization: Bearer <token>`. No cookie and no CSRF header needed.",
)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def current_session(
    request: Request, key: Annotated[str | None, Depends(session_cookie)]
) -> LoginSession | None:
    return await runtime(request).sessions.get(key)


OptionalSession = Annotated[LoginSession | None, Depends(current_session)]


def check_csrf(request: Request, session: LoginSession) -> None:
    cookie = request.cookies.get(CSRF_COOKIE)
    header = request.headers.get(CSRF_HEADER)
    if not cookie:
        raise CsrfFailed("CSRF cookie not set.")
    if not header:
        raise CsrfFailed("CSRF token missing.")
    # The token must also be this session's: a cookie planted by a sibling domain cannot pass.
    sent = header.encode()
    if not (hmac.compare_digest(sent, cookie.encode()) and hmac.compare_digest(sent, session.csrf_token.encode())):
        raise CsrfFailed("CSRF token incorrect.")


async def current_user(
    request: Request,
    key: Annotated[str | None, Depends(session_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_token)],
) -> User:
    # The session is read here rather than through OptionalSession: one dependency level less on
    # every request.
    rt = runtime(request)
    if bearer is not None:
        # A bearer token wins over any cookie, and needs no CSRF token: a page on another site can
        # make the browser send cookies, never an Authorization header.
        user_id = await rt.tokens.user_id_of(bearer.credentials)
        user = await rt.auth.get_user(user_id) if user_id is not None else None
        if user is None:
            raise InvalidToken()
        return user
    session = await rt.sessions.get(key)
    if session is None:
        raise NotAuthenticated()
    user = await rt.auth.get_user(session.user_id)
    if user is None:
        await rt.sessions.destroy(session.key)
        raise NotAuthenticated()
    if request.method not in SAFE_METHODS:
        check_csrf(request, session)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def staff_user(request: Request, user: CurrentUser) -> User:
    # Read from the database on every staff request, never from a copy: a demotion applies at once,
    # however it was made.
    user = await runtime(request).auth.get_user(user.id, fresh=True)
    if user is None or not user.is_staff:
        raise PermissionDenied()
    return user


StaffUser = Annotated[User, Depends(staff_user)]


Plans = Annotated[PlanCache, runtime_part("plans")]
Broker = Annotated[RabbitBroker, runtime_part("broker")]
Audit = Annotated[AuditLog, runtime_part("audit")]
Lists = Annotated[SessionLists, runtime_part("session_lists")]


# --- path ids of the caller's sessions and messages (api.md §3.5) ----------------------------------
# Anything that is not a positive 32-bit integer (`0`, `-1`, `1.0`, `abc`, a huge number) names none of
# the caller's sessions: 404 like a missing or foreign id, never a 400 that tells them apart. The
# caller is authenticated first, so an anonymous request still gets its 401.
_SESSION_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


async def session_id_of(
    _: CurrentUser, session_id: Annotated[str, Path(json_schema_extra=_SESSION_ID_SCHEMA)]
) -> int:
    # Length first: int() of a string of thousands of digits raises (Python's conversion limit).
    if not (len(session_id) <= 10 and session_id.isascii() and session_id.isdigit()) or not 1 <= int(session_id) <= MAX_ID:
        raise NotFound()
    return int(session_id)


async def message_id_of(
    _: CurrentUser, message_id: Annotated[str, Path(json_schema_extra={"type": "string", "format": "uuid"})]
) -> UUID:
    try:
        return UUID(message_id)
    except ValueError:
        raise NotFound() from None


SessionId = Annotated[int, Depends(session_id_of)]
MessageId = Annotated[UUID, Depends(message_id_of)]
