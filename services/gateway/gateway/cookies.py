"""The login cookies (Django's names): `sessionid` (HttpOnly) and `csrftoken` (readable by scripts)."""

from fastapi import Request, Response

from gateway.sessions import LoginSession
from gateway.settings import GatewaySettings

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "X-CSRFToken"
CSRF_COOKIE_SECONDS = 365 * 24 * 3600


def _secure(request: Request, settings: GatewaySettings) -> bool:
    if settings.secure_cookies == "auto":
        return request.url.scheme == "https"
    return settings.secure_cookies == "true"


def set_csrf_cookie(response: Response, request: Request, settings: GatewaySettings, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, max_age=CSRF_COOKIE_SECONDS, path="/", samesite="lax",
                        secure=_secure(request, settings), httponly=False)


def set_login_cookies(response: Response, request: Request, settings: GatewaySettings, session: LoginSession) -> None:
    response.set_cookie(SESSION_COOKIE, session.key, max_age=settings.session_absolute_lifetime_seconds, path="/",
                        samesite="lax", secure=_secure(request, settings), httponly=True)
    # A new CSRF token with every login (Django rotates it too), bound to this session.
    set_csrf_cookie(response, request, settings, session.csrf_token)


def clear_session_cookie(response: Response, request: Request, settings: GatewaySettings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="lax", secure=_secure(request, settings),
                           httponly=True)
