"""The worker's events about a reply and a title: store the reply (and ask for a title), record a
failure, set the generated title."""

import logging

from sqlalchemy.exc import IntegrityError

from chat.history import fallback_title, message_cost
from chat.models import ChatSession, Message
from chat.repository import ChatRepository
from chat.use_case import UseCase, fail_reply
from chat.views import message_out
from shared import metrics
from shared.contracts import chat as c
from shared.contracts.llm import (
    GenerateTitle,
    ReplyCompleted,
    ReplyFailed,
    TitleGenerated,
)
from shared.db import transaction
from shared.topology import COMMANDS, EVENTS, Keys

log = logging.getLogger(__name__)


# What providers report (OpenRouter normalizes to these), as the API says it (api.md §3.5). A
# completion without a reason (an older worker, a provider that sent none) ended normally.
_FINISH_REASONS = {"stop": "stop", "tool_calls": "stop", "end_turn": "stop", "length": "length",
                   "max_tokens": "length", "error": "error", "content_filter": "error"}


def finish_reason(event: ReplyCompleted) -> c.FinishReason:
    """Why the reply ended: stopped by the user, cut by max_tokens, cut short by the provider (the
    text is partial: content filter, an error mid-stream), or complete."""
    if event.stopped:
        return "stopped"
    return _FINISH_REASONS.get(event.finish_reason or "stop", "stop")


class ReplyEvents(UseCase):
    """Consumes ReplyCompleted, ReplyFailed and TitleGenerated; each is idempotent under redelivery."""

    async def on_reply_completed(self, event: ReplyCompleted) -> None:
        now = self.clock.now()
        try:
            async with transaction(self.factory) as s:
                repo = ChatRepository(s)
                if await repo.reply_of_exchange(event.exchange_id) is not None:
                    return  # a redelivered or duplicate completion: the reply is already stored
                user_message = await repo.user_message_of_exchange(event.exchange_id)
                running = await repo.last_running_tokens(event.session_id) + message_cost(event.usage.completion_tokens)
                reply = Message(
                    # The reply's id is the exchange id, so stream deltas can name it in advance.
                    message_id=event.exchange_id,
                    session_id=event.session_id, user_id=event.user_id, message_type="assistant",
                    content=event.content, tokens_count=event.usage.completion_tokens, running_tokens=running,
                    image_url=",".join(event.image_urls), created_at=now,
                    reply_to_exchange_id=event.exchange_id,
                    reply_to=user_message.message_id if user_message is not None else None,
                    finish_reason=finish_reason(event),
                    disabled=user_message is None or user_message.disabled,
                )
                repo.add(reply)
                if user_message is not None:
                    user_message.reply_status, user_message.reply_error = "completed", None
                    repo.add(user_message)
                await repo.release_reply(event.session_id, event.exchange_id, now)
                await repo.flush()
                await repo.enqueue(EVENTS.name, Keys.REPLY_STORED, c.ReplyStored(
                    exchange_id=event.exchange_id, session_id=event.session_id, user_id=event.user_id,
                    message=message_out(reply),
                ))
                await self._maybe_request_title(repo, event, user_message)
        except IntegrityError:
            log.info("reply for exchange %s was stored concurrently; duplicate ignored", event.exchange_id)
            return
        metrics.REPLIES.labels("completed").inc()
        self._on_outbox(s)

    async def _maybe_request_title(self, repo: ChatRepository, event: ReplyCompleted, user_message: Message | None) -> None:
        session = await repo.session_of(event.user_id, event.session_id)
        if session is None or user_message is None or not session.auto_generate_title:
            return
        if session.title != self.settings.default_title or await repo.has_other_reply(session.id, event.exchange_id):
            return
        model = await repo.model(session.ai_model_id)
        title_model = self.settings.title_model or (model.model_id if model and model.model_type == "text" else None)
        if title_model is None:  # no text model to ask: use the first words right away
            await self._set_title(repo, session, fallback_title(user_message.content))
            return
        await repo.enqueue(COMMANDS.name, Keys.GENERATE_TITLE, GenerateTitle(
            session_id=session.id, user_id=session.user_id, model=title_model,
            user_text=user_message.content, reply_text=event.content,
        ))

    async def _set_title(self, repo: ChatRepository, session: ChatSession, title: str) -> None:
        session.title = title
        repo.add(session)
        await repo.enqueue(EVENTS.name, Keys.SESSION_TITLED,
                     c.SessionTitled(session_id=session.id, user_id=session.user_id, title=title))

    async def on_reply_failed(self, event: ReplyFailed) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            if await repo.reply_of_exchange(event.exchange_id) is not None:
                return  # a reply was stored already; a late failure changes nothing
            user_message = await repo.user_message_of_exchange(event.exchange_id)
            if user_message is not None and user_message.exchange_id == event.exchange_id:
                await fail_reply(repo, user_message, event.error)
            # updated_at stays: the gateway's copy of the session list is not told of failures.
            await repo.release_reply(event.session_id, event.exchange_id, None)
        metrics.REPLIES.labels("failed").inc()
        self._on_outbox(s)

    async def on_title_generated(self, event: TitleGenerated) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            if not await repo.first_time(event.command_id):
                return
            session = await repo.session_of(event.user_id, event.session_id)
            if session is None or not session.auto_generate_title or session.title != self.settings.default_title:
                return
            title = (event.title or "").strip()
            if not title:
                title = fallback_title(await repo.first_user_text(session.id) or "")
            await self._set_title(repo, session, title[:50])
        self._on_outbox(s)
