"""Dependencies giving routes the clients built in the app's lifespan (coroutines: FastAPI runs plain
function dependencies in its thread pool, a thread hop on every request)."""

from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis

from shared.rpc import RpcClient


def runtime_part(name: str) -> Any:
    """A dependency that hands a route the runtime's `name` (gateway.runtime: the lifespan built it)."""

    async def part(request: Request) -> Any:
        return getattr(request.app.state.runtime, name)

    part.__name__ = f"get_{name}"
    return Depends(part)


Rpc = Annotated[RpcClient, runtime_part("rpc")]
RedisClient = Annotated[Redis, runtime_part("redis")]
