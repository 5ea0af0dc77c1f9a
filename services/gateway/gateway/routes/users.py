"""GET /api/users/: the logged-in user (api.md §3.1)."""

from fastapi import APIRouter

from gateway import schemas as s
from gateway.deps import CurrentUser

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/", response_model=s.MeOut, summary="The logged-in user (and whether they are staff)")
async def me(user: CurrentUser) -> s.MeOut:
    return s.MeOut.of(user)
