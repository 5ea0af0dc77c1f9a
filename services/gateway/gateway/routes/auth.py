"""/api/auth/…: register, password login, one-time codes, password change, logout, CSRF cookie (api.md §2).

These routes need no CSRF token (logout excepted) and rotate the session on every login.
"""

import re

from fastapi import APIRouter, Request, Response

from gateway import schemas as s
from gateway.cookies import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    set_csrf_cookie,
    set_login_cookies,
)
from gateway.credentials import end_other_credentials
from gateway.deps import CurrentUser, OptionalSession, check_csrf, runtime
from gateway.models import User
from gateway.otp import COOLDOWN_SECONDS
from gateway.sessions import new_token

router = APIRouter(prefix="/api/auth", tags=["auth"])
# The auth routes that need a login (mounted with the logged-in routers).
account_router = APIRouter(prefix="/api/auth", tags=["auth"])
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


async def log_in(request: Request, response: Response, user: User) -> None:
    """A fresh session for `user`; the one the request came with (if any) is destroyed."""
    rt = runtime(request)
    await rt.sessions.destroy(request.cookies.get(SESSION_COOKIE))
    session = await rt.sessions.create(user.id)
    set_login_cookies(response, request, rt.settings, session)


def client_ip(request: Request) -> str:
    """The client address the throttles count (the TCP peer, or what trusted proxies say it is)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/register/", status_code=202, response_model=s.RegistrationPending,
    summary="Start a registration: a code is sent; `otp/verify` with the code and `registration_id` creates "
            "the account",
    responses={409: {"model": s.ErrorBody, "description": "Phone number taken (`code`: phone_number_taken)"},
               **s.LIMIT_RESPONSE},
)
async def register(body: s.RegisterBody, request: Request) -> s.RegistrationPending:
    rt = runtime(request)
    registration_id = await rt.auth.register(body.phone_number, body.name, body.password, client_ip(request))
    return s.RegistrationPending(detail="A code has been sent to your phone number.", retry_after=COOLDOWN_SECONDS,
                                 registration_id=registration_id)


@router.post(
    "/login/", response_model=s.UserOut, summary="Log in with phone number and password",
    responses={401: {"model": s.DetailBody, "description": "Wrong phone number or password"}, **s.LIMIT_RESPONSE},
)
async def login(body: s.LoginBody, request: Request, response: Response) -> s.UserOut:
    user = await runtime(request).auth.login(body.phone_number, body.password, client_ip(request))
    await log_in(request, response, user)
    return s.UserOut.of(user)


@router.post("/otp/request/", response_model=s.CodeSent, summary="Send a login code by SMS",
             responses=s.LIMIT_RESPONSE)
async def request_code(body: s.OtpRequestBody, request: Request) -> s.CodeSent:
    retry_after = await runtime(request).auth.request_code(body.phone_number, client_ip(request))
    # The same answer whether or not the phone has an account.
    return s.CodeSent(detail="A login code has been sent if this number can receive SMS.", retry_after=retry_after)


@router.post("/otp/verify/", response_model=s.UserOut,
             summary="Log in with a code: completes a registration (`registration_id`), or creates an account "
                     "without a password for a new phone (`name` is then required)")
async def verify_code(body: s.OtpVerifyBody, request: Request, response: Response) -> s.UserOut:
    user = await runtime(request).auth.verify_code(body.phone_number, body.code, body.name, body.registration_id)
    await log_in(request, response, user)
    return s.UserOut.of(user)


@router.post("/logout/", response_model=s.Success, summary="Log out (needs X-CSRFToken when logged in)",
             responses={403: {"model": s.DetailBody, "description": "CSRF failed"}})
async def logout(request: Request, response: Response, session: OptionalSession) -> s.Success:
    rt = runtime(request)
    if session is not None:
        check_csrf(request, session)
        await rt.sessions.destroy(session.key)
    clear_session_cookie(response, request, rt.settings)
    return s.Success()


@router.get("/csrf/", response_model=s.CsrfToken, summary="Set the csrftoken cookie")
async def csrf(request: Request, response: Response, session: OptionalSession) -> s.CsrfToken:
    if session is not None:
        token = session.csrf_token
    else:
        existing = request.cookies.get(CSRF_COOKIE) or ""
        token = existing if _TOKEN.match(existing) else new_token()
    set_csrf_cookie(response, request, runtime(request).settings, token)
    return s.CsrfToken(detail="CSRF cookie set.", csrftoken=token)


@account_router.post("/password/", response_model=s.Success,
                     summary="Set a new password; every other login of the user ends",
                     responses=s.LIMIT_RESPONSE)
async def change_password(body: s.PasswordChangeBody, request: Request, user: CurrentUser,
                          session: OptionalSession) -> s.Success:
    rt = runtime(request)
    keep = session.key if session is not None else None
    await rt.auth.change_password(user.id, body.current_password, body.new_password, client_ip(request))
    await end_other_credentials(rt, user.id, keep_session=keep)
    return s.Success()
