"""The send path's copy of chatbot and model rows: reused within the TTL, dropped by `clear()`
(catalog edits) and ignored once expired."""

from unittest import mock
from uuid import uuid4

import pytest
from chat.catalog_cache import CatalogCache
from chat.models import Chatbot
from chat.repository import ChatRepository
from chat.seed import FREE, PREMIUM

from shared.contracts import chat as c
from shared.db import transaction
from shared.errors import AccessDenied
from tests.chat.test_service import USER, _session


async def _rename(factory, chatbot_id: int, name: str) -> None:
    async with transaction(factory) as s:
        bot = await s.get(Chatbot, chatbot_id)
        bot.name = name
        s.add(bot)


async def test_rows_are_reused_until_cleared(chat_env):
    _, factory, _ = chat_env
    cache = CatalogCache(ttl_seconds=60)
    async with factory() as s:
        bot, plans = await cache.chatbot(ChatRepository(s), 1)
    assert bot.name == "General Assistant" and plans == frozenset()
    await _rename(factory, 1, "Renamed")
    async with factory() as s:
        assert (await cache.chatbot(ChatRepository(s), 1))[0].name == "General Assistant"
        cache.clear()
        assert (await cache.chatbot(ChatRepository(s), 1))[0].name == "Renamed"


async def test_rows_expire_after_the_ttl(chat_env):
    _, factory, _ = chat_env
    cache = CatalogCache(ttl_seconds=5)
    with mock.patch("chat.catalog_cache.time.monotonic", return_value=1000.0):
        async with factory() as s:
            await cache.chatbot(ChatRepository(s), 1)
    await _rename(factory, 1, "Renamed")
    with mock.patch("chat.catalog_cache.time.monotonic", return_value=1004.0):
        async with factory() as s:
            assert (await cache.chatbot(ChatRepository(s), 1))[0].name == "General Assistant"
    with mock.patch("chat.catalog_cache.time.monotonic", return_value=1005.5):
        async with factory() as s:
            assert (await cache.chatbot(ChatRepository(s), 1))[0].name == "Renamed"


async def test_missing_rows_and_plan_links(chat_env):
    _, factory, _ = chat_env
    cache = CatalogCache(ttl_seconds=60)
    async with factory() as s:
        repo = ChatRepository(s)
        assert await cache.chatbot(repo, 999) == (None, frozenset())
        assert await cache.model(repo, 999) == (None, frozenset())
        writer = [b for b in await repo.usable_chatbots(PREMIUM) if b.name == "Creative Writer"][0]
        _, plans = await cache.chatbot(repo, writer.id)
    assert PREMIUM in plans and FREE not in plans


async def test_send_path_refuses_a_chatbot_the_plan_lost(chat_env):
    """Access revoked by staff (then the cache cleared, as the admin handlers do) applies at once."""
    service, factory, _ = chat_env
    session = await _session(service, plan=PREMIUM, chatbot_id=3)  # Technical Expert: Premium only
    def request() -> c.RunExchange:
        return c.RunExchange(user_id=USER, plan_id=PREMIUM, session_id=session.id, exchange_id=uuid4(), content="hi")

    await service.run_exchange(request())
    async with transaction(factory) as s:
        bot = await s.get(Chatbot, 3)
        bot.is_active = False
        s.add(bot)
    service.catalog.clear()
    with pytest.raises(AccessDenied):
        await service.run_exchange(request())


async def test_cached_rows_survive_a_rollback_of_the_session_that_loaded_them(chat_env):
    """A send refused with 409 rolls its transaction back; the rows it cached must stay readable."""
    _, factory, _ = chat_env
    cache = CatalogCache(ttl_seconds=60)
    with pytest.raises(RuntimeError):
        async with transaction(factory) as s:
            bot, _ = await cache.chatbot(ChatRepository(s), 1)
            model, _ = await cache.model(ChatRepository(s), bot.default_model_id)
            raise RuntimeError("refused")
    async with factory() as s:
        bot, _ = await cache.chatbot(ChatRepository(s), 1)
        model, _ = await cache.model(ChatRepository(s), bot.default_model_id)
    assert bot.name == "General Assistant" and bot.system_prompt and model.model_id == "google/gemini-pro"
