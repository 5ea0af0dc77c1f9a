"""The sweep that fails exchanges left without an answer (architecture §4)."""

import logging
from datetime import timedelta

from chat.repository import ChatRepository
from chat.use_case import UseCase, fail_reply
from shared import metrics
from shared.contracts import chat as c
from shared.db import transaction
from shared.topology import EVENTS, Keys

log = logging.getLogger(__name__)
TIMED_OUT = "The reply timed out."


class StaleExchanges(UseCase):
    """Fails what no reply will ever answer, and frees its session and reservation."""

    async def fail_stale_exchanges(self) -> int:
        """No exchange stays `queued` forever (architecture §4): one without an answer after
        `reply_stale_after_seconds` (its completion dead-lettered, its worker gone for good) is failed,
        its session freed, and billing told to release its reservation (`ExchangeAbandoned`). A reply
        that still completes later is stored and billed as usual, so chat and billing agree."""
        now = self.clock.now()
        stale_before = now - timedelta(seconds=self.settings.reply_stale_after_seconds)
        failed = 0
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            for session in await repo.stale_claims(stale_before):
                exchange_id = session.active_exchange_id
                message = await repo.user_message_of_exchange(exchange_id)
                if message is not None and message.reply_status in ("queued", "streaming"):
                    await fail_reply(repo, message, TIMED_OUT)
                    failed += 1
                await repo.release_reply(session.id, exchange_id, None)
                await repo.enqueue(EVENTS.name, Keys.EXCHANGE_ABANDONED,
                                   c.ExchangeAbandoned(exchange_id=exchange_id, user_id=session.user_id,
                                                       reason="timed_out"))
        if failed:
            log.warning("failed %d exchange(s) with no reply after %ss", failed, self.settings.reply_stale_after_seconds)
            metrics.REPLIES.labels("timed_out").inc(failed)
        self._on_outbox(s)
        return failed
