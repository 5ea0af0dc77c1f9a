"""Responders and callers over the real broker, for tests of the RPC layer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.rabbit import RabbitRouter

from shared.broker import declare_topology, make_broker
from shared.rpc import RpcClient


@asynccontextmanager
async def responding(rabbit_url: str, router: RabbitRouter) -> AsyncIterator[None]:
    """The router's responders consume (their request queues declared) until the block ends."""
    broker = make_broker(rabbit_url)
    broker.include_router(router)
    await broker.start()
    await declare_topology(broker)
    try:
        yield
    finally:
        await broker.stop()


@asynccontextmanager
async def caller(rabbit_url: str, timeout: float = 5) -> AsyncIterator[RpcClient]:
    client = RpcClient(rabbit_url, timeout=timeout)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
