"""Chatbots and AI models with the plans each is limited to, kept in memory for a few seconds.

Every send checks the session's chatbot and model against the caller's plan: four queries that
return the same rows until staff edit the catalog. Edits through this process clear the cache at
once; other chat replicas see them within the TTL (`CATALOG_CACHE_SECONDS`).
"""

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from chat.models import AiModel, Chatbot
from chat.repository import ChatRepository

Row = TypeVar("Row", Chatbot, AiModel)


class _Entries(Generic[Row]):
    def __init__(self) -> None:
        self.rows: dict[int, tuple[float, Row | None, frozenset[int]]] = {}

    async def get(
        self, key: int, ttl: float, load: Callable[[], Awaitable[tuple[Row | None, set[int]]]]
    ) -> tuple[Row | None, frozenset[int]]:
        now = time.monotonic()
        hit = self.rows.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        row, plans = await load()
        if ttl > 0:
            self.rows[key] = (now + ttl, row, frozenset(plans))
        return row, frozenset(plans)


class CatalogCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._chatbots: _Entries[Chatbot] = _Entries()
        self._models: _Entries[AiModel] = _Entries()

    async def chatbot(self, repo: ChatRepository, chatbot_id: int) -> tuple[Chatbot | None, frozenset[int]]:
        """The chatbot (None if there is none) and the plans it is limited to (empty: every plan)."""

        async def load() -> tuple[Chatbot | None, set[int]]:
            bot = await repo.chatbot(chatbot_id)
            plans = await repo.chatbot_plan_ids(chatbot_id) if bot is not None else set()
            return repo.detach(bot), plans

        return await self._chatbots.get(chatbot_id, self.ttl_seconds, load)

    async def model(self, repo: ChatRepository, model_pk: int) -> tuple[AiModel | None, frozenset[int]]:
        """The AI model (None if there is none) and the plans that may use it when it is not free."""

        async def load() -> tuple[AiModel | None, set[int]]:
            model = await repo.model(model_pk)
            plans = await repo.model_plan_ids(model_pk) if model is not None else set()
            return repo.detach(model), plans

        return await self._models.get(model_pk, self.ttl_seconds, load)

    def clear(self) -> None:
        self._chatbots.rows.clear()
        self._models.rows.clear()
