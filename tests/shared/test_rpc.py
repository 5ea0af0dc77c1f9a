"""RPC over the real broker: answers, domain errors, concurrency, and a missing responder."""

import asyncio

import pytest
from faststream.rabbit import RabbitRouter
from pydantic import BaseModel

from shared.errors import NotFound, Timeout, Unavailable
from shared.rpc import responder
from tests.support.rpc import caller, responding


class Echo(BaseModel):
    value: int


@pytest.fixture
async def rpc_pair(rabbit_url):
    router = RabbitRouter()

    @responder(router, "testsvc.double")
    async def answer_double(query: Echo) -> Echo:
        if query.value < 0:
            raise NotFound("negative", value=query.value)
        await asyncio.sleep(0.05)
        return Echo(value=query.value * 2)

    async with responding(rabbit_url, router), caller(rabbit_url) as client:
        yield client


async def test_answer_and_typed_result(rpc_pair):
    result = await rpc_pair.call("testsvc.double", Echo(value=21), Echo)
    assert result == Echo(value=42)


async def test_domain_error_is_raised_in_caller(rpc_pair):
    with pytest.raises(NotFound) as info:
        await rpc_pair.call("testsvc.double", {"value": -1}, Echo)
    assert info.value.details == {"value": -1}


async def test_many_calls_in_flight_at_once(rpc_pair):
    results = await asyncio.gather(*(rpc_pair.call("testsvc.double", {"value": i}, Echo) for i in range(50)))
    assert [r.value for r in results] == [i * 2 for i in range(50)]


async def test_unknown_query_fails_fast(rpc_pair):
    with pytest.raises(Unavailable):
        await rpc_pair.call("testsvc.nobody_answers", {"value": 1}, timeout=2)


async def test_a_request_nobody_took_before_the_timeout_is_never_handled(rabbit_url):
    """A responder that starts late (a restart) never acts on a request its caller gave up on."""
    handled: list[int] = []
    router = RabbitRouter()

    @responder(router, "testsvc.late")
    async def answer_late(query: Echo) -> Echo:
        handled.append(query.value)
        return query

    async with responding(rabbit_url, router):
        pass  # its request queue now exists, and nobody consumes it: the responder is down
    async with caller(rabbit_url) as client:
        with pytest.raises(Timeout):
            await client.call("testsvc.late", Echo(value=1), Echo, timeout=0.3)
        await asyncio.sleep(0.2)
        async with responding(rabbit_url, router):
            assert await client.call("testsvc.late", Echo(value=2), Echo) == Echo(value=2)
    assert handled == [2]
