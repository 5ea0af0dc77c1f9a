"""GET /api/users/: the logged-in user (api.md §3.1)."""

from fastapi import APIRouter

from gateway import schemas as s
from gateway.deps import CurrentUser

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/", response_model=s.UserOut, summary="The logged-in user")
async def me(user: CurrentUser) -> s.UserOut:
    return s.UserOut.of(user)
