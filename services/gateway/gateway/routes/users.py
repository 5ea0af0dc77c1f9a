"""GET /api/users/: the logged-in user (api.md §3.1)."""

from fastapi import APIRouter

from gateway import schemas as s
from gateway.deps import CurrentUser

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/", response_model=s.UserOut, summary="The logged-in user")
async def me(user: CurrentUser) -> s.UserOut:
    return s.UserOut.of(user)


@router.get("/access/", response_model=s.AccessOut, summary="Whether the logged-in user is staff")
async def access(user: CurrentUser) -> s.AccessOut:
    return s.AccessOut(is_staff=user.is_staff)
