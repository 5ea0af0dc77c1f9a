"""Dependencies giving routes the clients built in the app's lifespan (coroutines: FastAPI runs plain
function dependencies in its thread pool, a thread hop on every request)."""

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from shared.rpc import RpcClient


async def get_rpc(request: Request) -> RpcClient:
    return request.app.state.runtime.rpc


async def get_redis(request: Request) -> Redis:
    return request.app.state.runtime.redis


Rpc = Annotated[RpcClient, Depends(get_rpc)]
RedisClient = Annotated[Redis, Depends(get_redis)]
