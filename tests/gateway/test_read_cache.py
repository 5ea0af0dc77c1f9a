"""The gateway's versioned Redis copies (gateway.read_cache) against a real Redis: a reader that fetched
before a change can never store what it fetched, whether the change was to its entry or its scope."""


import pytest
from gateway.read_cache import VersionedCache


@pytest.fixture
def cache(redis, redis_prefix):
    return VersionedCache(redis, redis_prefix, ttl_seconds=60)


async def test_a_filled_entry_is_read_back(cache):
    seen = await cache.read(1)
    assert seen.data is None
    assert await cache.fill(1, seen, '{"a": 1}')
    assert (await cache.read(1)).data == '{"a": 1}'
    assert (await cache.read(2)).data is None  # entries are apart


async def test_a_fill_started_before_an_invalidation_is_refused(cache):
    await cache.fill(1, await cache.read(1), "old")
    await cache.invalidate(1)
    slow_reader = await cache.read(1)  # fetches from the database now…
    await cache.invalidate(1)  # …while a change commits and drops the copy
    assert not await cache.fill(1, slow_reader, "what the slow reader fetched")
    assert (await cache.read(1)).data is None
    fresh = await cache.read(1)
    assert await cache.fill(1, fresh, "new")
    assert (await cache.read(1)).data == "new"


async def test_a_fill_started_before_a_scope_change_is_refused_and_old_entries_vanish(cache):
    await cache.fill(1, await cache.read(1), "one")
    slow_reader = await cache.read(2)
    await cache.invalidate_all()
    assert (await cache.read(1)).data is None  # filled under the old scope
    assert not await cache.fill(2, slow_reader, "two")
    assert await cache.fill(2, await cache.read(2), "two")
    assert (await cache.read(2)).data == "two"


async def test_entries_and_versions_expire(cache, redis):
    await cache.fill(1, await cache.read(1), "one")
    await cache.invalidate(2)
    for entry in (1, 2):
        assert 0 < await redis.ttl(f"{cache.prefix}{entry}") <= 60


async def test_a_disabled_cache_says_so(redis):
    assert not VersionedCache(redis, "mobix:test:off:", ttl_seconds=0).enabled
