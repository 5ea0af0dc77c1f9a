"""Subscription and usage: /api/users/subscription/, /api/users/usage/, /api/chat-session-usages/."""


from fastapi import APIRouter, Request

from gateway.backends import Rpc
from gateway.deps import CurrentUser
from gateway.pagination import Pages, envelope
from gateway.schemas import SubscriptionOut
from shared.contracts import billing as b

router = APIRouter(prefix="/api", tags=["usage"])


@router.get("/users/subscription/", response_model=SubscriptionOut, summary="Your current subscription")
async def subscription(user: CurrentUser, rpc: Rpc):
    return await rpc.call(b.RpcNames.GET_SUBSCRIPTION, b.GetSubscription(user_id=user.id))


@router.get("/users/usage/", response_model=b.UsageReport, summary="Every limit of your plan: used, remaining, resets")
async def usage(user: CurrentUser, rpc: Rpc):
    return await rpc.call(b.RpcNames.GET_USAGE, b.UserQuery(user_id=user.id))


@router.get("/chat-session-usages/", response_model=list[b.SessionUsage] | dict, summary="Usage per chat session")
async def session_usages(request: Request, user: CurrentUser, rpc: Rpc, params: Pages):
    if params.page is None:
        return await rpc.call(b.RpcNames.LIST_SESSION_USAGES, b.UserQuery(user_id=user.id))
    # Counted and sliced by billing's database: a page costs the same however many sessions there are.
    query = b.SessionUsagesPageQuery(user_id=user.id, offset=params.offset, limit=params.size)
    page = await rpc.call(b.RpcNames.PAGE_SESSION_USAGES, query)
    return envelope(request, params, page["count"], page["items"])
