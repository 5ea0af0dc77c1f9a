"""Chat use cases: catalog access, sessions, exchanges (send / edit / regenerate), reply events."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from chat.catalog_cache import CatalogCache
from chat.history import Prompt, fallback_title, message_cost, prompt_for
from chat.models import AiModel, Chatbot, ChatSession, Message
from chat.repository import ChatRepository
from chat.settings import ChatSettings
from chat.views import chatbot_out, message_out, message_wire, model_out, session_out
from shared import deadlines, metrics
from shared.bounds import MAX_MESSAGE_CHARS, MAX_TITLE_CHARS
from shared.clock import Clock
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.contracts.llm import (
    GenerateReply,
    GenerateTitle,
    ReplyCompleted,
    ReplyFailed,
    StopRequested,
    TitleGenerated,
)
from shared.db import SessionFactory, transaction
from shared.errors import (
    AccessDenied,
    Conflict,
    DomainError,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from shared.text import ENGLISH as TEXT_PROBLEMS
from shared.text import text_problem
from shared.tokens import count_text
from shared.topology import COMMANDS, EVENTS, Keys

log = logging.getLogger(__name__)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _checked_text(field: str, value: str | None, most: int, empty: str) -> str:
    """The shared text rule again behind the gateway (a NUL would fail PostgreSQL's insert as a 503)."""
    text = (value or "").strip()
    if not text:
        raise _invalid(field, empty)
    problem = text_problem(text)
    if problem is not None:
        raise _invalid(field, TEXT_PROBLEMS[problem])
    if len(text) > most:
        raise _invalid(field, f"Ensure this field has no more than {most} characters.")
    return text


def _chatbot_denied() -> AccessDenied:
    return AccessDenied("Your plan does not include this chatbot.", code="chatbot_access_denied")


def _model_denied() -> AccessDenied:
    return AccessDenied("Your plan does not include this AI model.", code="model_access_denied")


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


class _Stored(Exception):  # noqa: N818 - rolls the release back and carries the stored exchange
    def __init__(self, stored: c.ExchangeStored) -> None:
        self.stored = stored


@dataclass(frozen=True)
class Prepared:
    """An exchange's session and catalog rows, checked against the caller's plan."""

    session: ChatSession
    bot: Chatbot
    model: AiModel


@dataclass(frozen=True)
class ExchangeInput:
    """What an exchange answers: its user message if it exists already (edit, regenerate), the text,
    and the prompt built from the history before it."""

    target: Message | None
    text: str
    prompt: Prompt


@dataclass(frozen=True)
class Draft:
    """A claimed exchange, its prompt built once, waiting for its admission: what the store writes."""

    prepared: Prepared
    given: ExchangeInput


class Admitter(Protocol):
    """Billing's admission (chat.admission.BillingAdmission; a stand-in in tests)."""

    async def admit(self, request: b.AdmitExchange) -> b.Admission: ...


class ChatService:
    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock, on_outbox=None,  # noqa: ANN001
                 *, billing: Admitter | None = None) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.billing = billing
        self.catalog = CatalogCache(settings.catalog_cache_seconds)
        self._on_outbox = on_outbox or (lambda: None)  # wakes the outbox relay after a commit

    # --- access ----------------------------------------------------------------------------
    async def _chatbot_usable(self, repo: ChatRepository, bot: Chatbot, plan_id: int) -> bool:
        plans = await repo.chatbot_plan_ids(bot.id)
        return bot.is_active and (not plans or plan_id in plans)

    async def _model_usable(self, repo: ChatRepository, model: AiModel, plan_id: int) -> bool:
        return model.is_active and (model.is_free or plan_id in await repo.model_plan_ids(model.id))

    async def _require_access(self, repo: ChatRepository, session: ChatSession, plan_id: int) -> tuple[Chatbot, AiModel]:
        """The session's chatbot and model, if the plan may use them (the send path: cached rows)."""
        bot, bot_plans = await self.catalog.chatbot(repo, session.chatbot_id)
        model, model_plans = await self.catalog.model(repo, session.ai_model_id)
        if bot is None or not bot.is_active or (bot_plans and plan_id not in bot_plans):
            raise _chatbot_denied()
        if model is None or not model.is_active or not (model.is_free or plan_id in model_plans):
            raise _model_denied()
        return bot, model

    # --- catalog ---------------------------------------------------------------------------
    async def list_chatbots(self, q: c.CatalogQuery) -> list[c.ChatbotOut]:
        async with self.factory() as s:
            return [chatbot_out(b) for b in await ChatRepository(s).usable_chatbots(q.plan_id)]

    async def get_chatbot(self, q: c.CatalogItemQuery) -> c.ChatbotOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            bot = await repo.chatbot(q.item_id)
            if bot is None or not await self._chatbot_usable(repo, bot, q.plan_id):
                raise NotFound()
            return chatbot_out(bot)

    async def list_models(self, q: c.CatalogQuery) -> list[c.AiModelOut]:
        async with self.factory() as s:
            return [model_out(m) for m in await ChatRepository(s).usable_models(q.plan_id)]

    async def get_model(self, q: c.CatalogItemQuery) -> c.AiModelOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            model = await repo.model(q.item_id)
            if model is None or not await self._model_usable(repo, model, q.plan_id):
                raise NotFound()
            return model_out(model)

    # --- sessions --------------------------------------------------------------------------
    async def _pick_model(self, repo: ChatRepository, bot: Chatbot, slug: str | None, plan_id: int) -> AiModel:
        if slug is not None:
            model = await repo.model_by_slug(slug)
            if model is None or not model.is_active:
                raise _invalid("ai_model_id", f"Unknown or inactive AI model: {slug}")
            if not await self._model_usable(repo, model, plan_id):
                raise _model_denied()
        else:
            model = await repo.model(bot.default_model_id) if bot.default_model_id else None
            if model is None or not await self._model_usable(repo, model, plan_id) or model.model_type != bot.chatbot_type:
                candidates = [m for m in await repo.usable_models(plan_id) if m.model_type == bot.chatbot_type]
                if not candidates:
                    raise _model_denied()
                model = candidates[0]
        if model.model_type != bot.chatbot_type:
            raise _invalid(
                "ai_model_id", f"A {bot.chatbot_type} chatbot needs a {bot.chatbot_type} model; {model.model_id} is {model.model_type}."
            )
        return model

    async def create_session(self, q: c.CreateSession) -> c.SessionOut:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            bot = await repo.chatbot(q.chatbot_id)
            if bot is None or not bot.is_active:
                raise _invalid("chatbot_id", f"Unknown or inactive chatbot: {q.chatbot_id}")
            if not await self._chatbot_usable(repo, bot, q.plan_id):
                raise _chatbot_denied()
            model = await self._pick_model(repo, bot, q.ai_model_id, q.plan_id)
            if q.title is not None:
                _checked_text("title", q.title, MAX_TITLE_CHARS, "Title must be 1 to 200 characters.")
            now = self.clock.now()
            session = ChatSession(
                user_id=q.user_id, chatbot_id=bot.id, ai_model_id=model.id,
                title=q.title or self.settings.default_title, auto_generate_title=q.auto_generate_title,
                created_at=now, updated_at=now,
            )
            repo.add(session)
            await repo.flush()
            return session_out(session, bot, model)

    async def _session_view(self, repo: ChatRepository, session: ChatSession) -> c.SessionOut:
        return session_out(session, await repo.chatbot(session.chatbot_id), await repo.model(session.ai_model_id))

    async def list_sessions(self, q: c.ListSessions) -> c.SessionPage:
        async with self.factory() as s:
            before = None
            if q.before_updated_at is not None and q.before_id is not None:
                before = (q.before_updated_at, q.before_id)
            count, rows = await ChatRepository(s).list_sessions(q.user_id, q.offset, q.limit, before)
            return c.SessionPage(count=count, items=[session_out(row, bot, model) for row, bot, model in rows])

    async def _owned(self, repo: ChatRepository, q: c.SessionQuery) -> ChatSession:
        session = await repo.session_of(q.user_id, q.session_id)
        if session is None:
            raise NotFound()
        return session

    async def get_session(self, q: c.SessionQuery) -> c.SessionOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            return await self._session_view(repo, await self._owned(repo, q))

    async def update_session(self, q: c.UpdateSession) -> c.SessionOut:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await self._owned(repo, q)
            if q.ai_model_id is not None:
                bot = await repo.chatbot(session.chatbot_id)
                session.ai_model_id = (await self._pick_model(repo, bot, q.ai_model_id, q.plan_id)).id
            if q.title is not None:
                session.title = _checked_text("title", q.title, MAX_TITLE_CHARS, "Title must be 1 to 200 characters.")
                session.auto_generate_title = False  # a chosen title is never overwritten
            if q.auto_generate_title is not None:
                session.auto_generate_title = q.auto_generate_title
            session.updated_at = self.clock.now()
            repo.add(session)
            return await self._session_view(repo, session)

    async def delete_session(self, q: c.SessionQuery) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await self._owned(repo, q)
            session.is_active = False
            repo.add(session)

    async def list_messages(self, q: c.SessionQuery) -> list[c.MessageOut]:
        """Every enabled message of the session, oldest first."""
        return (await self.page_messages(c.ListMessages(user_id=q.user_id, session_id=q.session_id))).messages

    async def page_messages(self, q: c.ListMessages) -> c.MessagePage:
        return c.MessagePage.model_validate(await self.message_page_wire(q))

    async def message_page_wire(self, q: c.ListMessages) -> dict:
        """The messages after / before a message of the session, or the newest `limit` of them, as
        the JSON of a MessagePage: rows go straight to wire dicts (the list is read, not changed)."""
        if q.limit is not None and not 1 <= q.limit <= c.MAX_MESSAGE_PAGE:
            raise _invalid("limit", f"Must be from 1 to {c.MAX_MESSAGE_PAGE}.")
        async with self.factory() as s:
            repo = ChatRepository(s)
            await self._owned(repo, q)
            bounds = {}
            for name in ("after", "before"):
                message_id = getattr(q, name)
                if message_id is not None:
                    bounds[name] = await repo.message_position(q.session_id, message_id)
                    if bounds[name] is None:
                        raise _invalid(name, "Not a message of this session.")
            rows, has_more = await repo.message_page(q.session_id, bounds.get("after"), bounds.get("before"), q.limit)
            return {"messages": [message_wire(row) for row in rows], "has_more": has_more}

    # --- exchanges -------------------------------------------------------------------------
    def _busy(self, session: ChatSession) -> bool:
        if session.active_exchange_id is None or session.active_since is None:
            return False
        since = session.active_since if session.active_since.tzinfo else session.active_since.replace(tzinfo=self.clock.now().tzinfo)
        return since > self.clock.now() - timedelta(seconds=self.settings.reply_stale_after_seconds)

    async def _exchange_access(self, repo: ChatRepository, q: c.RunExchange) -> Prepared:
        """The caller's session and the catalog rows it uses, checked against the plan (whether a
        reply is in progress is the claim's to decide)."""
        session = await self._owned(repo, q)
        bot, model = await self._require_access(repo, session, q.plan_id)
        return Prepared(session, bot, model)

    async def _exchange_input(self, repo: ChatRepository, prepared: Prepared, q: c.RunExchange) -> ExchangeInput:
        """The user message an edit or a regenerate answers again (None for a new send), the text the
        reply answers, and its prompt from the history before that message (a bounded read)."""
        session, bot, model = prepared.session, prepared.bot, prepared.model
        target: Message | None = None
        if q.kind == "send":
            _checked_text("message", q.content, MAX_MESSAGE_CHARS, "Message must not be empty.")
            text = q.content
        elif q.kind == "edit":
            target = await repo.message_in_session(session.id, q.message_id) if q.message_id else None
            if target is None or target.message_type != "user" or target.disabled:
                raise NotFound()
            _checked_text("content", q.content, MAX_MESSAGE_CHARS, "Content must not be empty.")
            text = q.content
        else:  # regenerate: the last user message, whose reply (if any) is replaced
            target = await repo.last_user_message(session.id)
            if target is None or (target.reply_status != "failed" and not await repo.has_reply_after(session.id, target.id)):
                raise _invalid("message", "There is no reply to regenerate.")
            text = target.content
        prompt = await prompt_for(repo, session.id, target.id if target is not None else None, bot.system_prompt,
                                  bot.chatbot_type == "image", model.context_tokens, text)
        return ExchangeInput(target, text, prompt)

    async def run_exchange(self, q: c.RunExchange) -> c.ExchangeStored:
        """A send, edit or regenerate in one request (architecture §3): claim the session and build
        the prompt (one transaction), have billing admit and reserve, store the user message with its
        `GenerateReply` and `ReplyQueued` (one transaction, the commit point), answer. An exchange
        that goes no further gives its claim back, and billing's reservation, if it may hold one, is
        released by `ExchangeAbandoned` queued in the same transaction."""
        draft = await self._claim(q)
        if isinstance(draft, c.ExchangeStored):
            return draft  # a redelivered request: its first delivery stored it
        prepared = draft.prepared
        model, bot = prepared.model, prepared.bot
        try:
            admission = await self.billing.admit(b.AdmitExchange(
                user_id=q.user_id, exchange_id=q.exchange_id, session_id=q.session_id, model=model.model_id,
                is_free_model=model.is_free, token_cost_multiplier=model.token_cost_multiplier,
                prompt_tokens=draft.given.prompt.tokens, max_reply_tokens=model.max_reply_tokens,
                is_image=bot.chatbot_type == "image", prompt_price_usd_per_mtok=model.prompt_price_usd_per_mtok,
                completion_price_usd_per_mtok=model.completion_price_usd_per_mtok,
            ))
        except (Exception, asyncio.CancelledError) as exc:
            # Denied (429, 400, already billed): nothing reserved. Unanswered or broken: billing may
            # hold a reservation that nobody will ever bill.
            await self._give_up(q, reserved=not isinstance(exc, DomainError) or isinstance(exc, Unavailable),
                                raising=False)
            raise
        try:
            stored = await self._store(q, draft, admission.max_tokens)
        except (Exception, asyncio.CancelledError) as exc:
            # The commit point decides: a commit whose acknowledgement was lost is found here and
            # answered; otherwise nothing was stored and the reservation is released.
            found = await self._give_up(q, reserved=True, raising=False)
            if found is None or isinstance(exc, asyncio.CancelledError):
                raise
            log.info("exchange %s was stored although its commit raised %r", q.exchange_id, exc)
            stored = found
        self._on_outbox()
        metrics.EXCHANGES.labels(q.kind).inc()
        return stored.model_copy(update={"rate_limit": admission.rate_limit})

    async def _claim(self, q: c.RunExchange) -> Draft | c.ExchangeStored:
        """Check the request, build its prompt and claim the session for it, before billing is
        asked: of two sends at once (a double click) the second is 409 `reply_in_progress` and never
        reserves budget it could be denied for (429)."""
        now = self.clock.now()
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            # A request redelivered after chat died between answering and acking it must not store
            # the exchange a second time (a second user message, a second generated reply).
            if (stored := await repo.user_message_of_exchange(q.exchange_id)) is not None:
                return c.ExchangeStored(user_message=message_out(stored), disabled_message_ids=[])
            prepared = await self._exchange_access(repo, q)
            session = prepared.session
            given = await self._exchange_input(repo, prepared, q)
            stale_before = now - timedelta(seconds=self.settings.reply_stale_after_seconds)
            held = session.active_exchange_id == q.exchange_id  # by this request's first delivery
            if not held and not await repo.claim_session(session.id, q.exchange_id, now, stale_before) \
                    and not await self._take_over_orphan(repo, session, q.exchange_id, now):
                raise Conflict("A reply is still in progress for this session.", code="reply_in_progress")
            # The claim keeps every other exchange off this conversation until it is released, so
            # what was read here is what the store step writes after.
            return Draft(prepared, given)

    async def _take_over_orphan(self, repo: ChatRepository, session: ChatSession, exchange_id: UUID, now) -> bool:  # noqa: ANN001
        """A claim whose exchange was never stored, older than any request can last (chat died
        in the middle, or could not write its release), does not block the session for the whole
        reply deadline; billing is told to release what it may hold for it."""
        since = session.active_since
        if session.active_exchange_id is None or since is None:
            return False
        since = since if since.tzinfo else since.replace(tzinfo=now.tzinfo)
        if since > now - timedelta(seconds=3 * self.settings.rpc_timeout_seconds):
            return False
        orphan = session.active_exchange_id
        if await repo.user_message_of_exchange(orphan) is not None:
            return False  # a real reply in progress
        if not await repo.take_over_claim(session.id, orphan, exchange_id, now):
            return False
        await repo.enqueue(EVENTS.name, Keys.EXCHANGE_ABANDONED,
                           c.ExchangeAbandoned(exchange_id=orphan, user_id=session.user_id))
        return True

    async def _store(self, q: c.RunExchange, draft: Draft, max_tokens: int) -> c.ExchangeStored:
        """The commit point: the user message, its `GenerateReply` and `ReplyQueued`, in one transaction."""
        now = self.clock.now()
        session, bot, model = draft.prepared.session, draft.prepared.bot, draft.prepared.model
        text, prompt = draft.given.text, draft.given.prompt
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            # The claim must still be ours (a caller that gave up has freed it). The UPDATE locks the
            # session row, so an abandon is ordered before or after this commit, never between.
            if not await repo.confirm_claim(session.id, q.exchange_id, now):
                if await repo.session_of(q.user_id, q.session_id) is None:
                    raise NotFound()  # deleted meanwhile
                raise Conflict("A reply is still in progress for this session.", code="reply_in_progress")
            # Behind the row lock: a second delivery of this request running at the same time (its
            # channel closed and RabbitMQ delivered it again) finds the first one's message.
            if (stored := await repo.user_message_of_exchange(q.exchange_id)) is not None:
                return c.ExchangeStored(user_message=message_out(stored), disabled_message_ids=[])
            target = draft.given.target
            # Edit and regenerate replace what followed their message: one range of the index.
            later = await repo.disable_after(session.id, target.id) if target is not None else []
            if target is None:
                tokens = count_text(text)
                target = Message(
                    session_id=session.id, user_id=q.user_id, message_type="user", content=text,
                    tokens_count=tokens, running_tokens=prompt.running_before + message_cost(tokens), created_at=now,
                )
            elif q.kind == "edit":
                target.content, target.edited_at, target.tokens_count = text, now, count_text(text)
                target.running_tokens = prompt.running_before + message_cost(target.tokens_count)
            target.exchange_id, target.reply_status, target.reply_error = q.exchange_id, "queued", None
            repo.add(target)
            await repo.flush()
            fallbacks = [f.strip() for f in model.fallback_model_ids.split(",") if f.strip()]
            await repo.enqueue(COMMANDS.name, Keys.GENERATE_REPLY, GenerateReply(
                exchange_id=q.exchange_id, session_id=session.id, user_id=q.user_id, model=model.model_id,
                fallback_models=fallbacks, messages=prompt.turns(), max_tokens=max_tokens,
                modalities=["image", "text"] if bot.chatbot_type == "image" else None,
            ))
            stored = message_out(target)
            await repo.enqueue(EVENTS.name, Keys.REPLY_QUEUED, c.ReplyQueued(
                exchange_id=q.exchange_id, session_id=session.id, user_id=q.user_id, user_message=stored,
            ))
        return c.ExchangeStored(user_message=stored, disabled_message_ids=later)

    async def abandon_exchange(self, q: c.AbandonExchange) -> c.ExchangeStored | None:
        """The caller got no answer to its `RunExchange`: free the claim unless the exchange was stored;
        then it is the stored exchange, and the caller answers with it (its commit decided)."""
        return await self._give_up(q, reserved=None, raising=True)

    async def _give_up(self, q: c.AbandonExchange | c.RunExchange, *, reserved: bool | None,
                       raising: bool) -> c.ExchangeStored | None:
        """Free the claim of an exchange that goes no further, unless it was stored (then answer it).
        `reserved`: whether billing may hold a reservation for it (None: the caller cannot tell, and
        whoever frees the claim queues the release). Written past any deadline: a release may always
        come late. If it cannot be written at all (`raising` False: logged), the claim stays and is
        freed with its `ExchangeAbandoned` by the next send after a few RPC timeouts or by the stale
        sweep, and an unreleased reservation also expires by itself."""
        try:
            with deadlines.lifted():
                async with transaction(self.factory) as s:
                    repo = ChatRepository(s)
                    # The release first: it waits for a commit in flight on the session row, so the
                    # lookup after it sees that commit's message if there is one.
                    freed = await repo.release_reply(q.session_id, q.exchange_id, None)
                    if (stored := await repo.user_message_of_exchange(q.exchange_id)) is not None:
                        raise _Stored(c.ExchangeStored(user_message=message_out(stored), disabled_message_ids=[]))
                    release = freed if reserved is None else reserved
                    if release:
                        await repo.enqueue(EVENTS.name, Keys.EXCHANGE_ABANDONED,
                                           c.ExchangeAbandoned(exchange_id=q.exchange_id, user_id=q.user_id))
        except _Stored as found:  # the release is rolled back: the session's reply is in progress
            return found.stored
        except Exception:
            if raising:
                raise
            log.warning("could not give up exchange %s; its claim goes stale", q.exchange_id, exc_info=True)
            return None
        if release:
            self._on_outbox()
        return None

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
                    message.reply_status, message.reply_error = "failed", "The reply timed out."
                    repo.add(message)
                    failed += 1
                await repo.release_reply(session.id, exchange_id, None)
                await repo.enqueue(EVENTS.name, Keys.EXCHANGE_ABANDONED,
                                   c.ExchangeAbandoned(exchange_id=exchange_id, user_id=session.user_id,
                                                       reason="timed_out"))
        if failed:
            log.warning("failed %d exchange(s) with no reply after %ss", failed, self.settings.reply_stale_after_seconds)
            metrics.REPLIES.labels("timed_out").inc(failed)
        self._on_outbox()
        return failed

    async def stop_reply(self, q: c.SessionQuery) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await self._owned(repo, q)
            if not self._busy(session):
                raise Conflict("No reply is in progress for this session.", code="no_reply_in_progress")
            await repo.enqueue(EVENTS.name, Keys.REPLY_STOP_REQUESTED,
                         StopRequested(exchange_id=session.active_exchange_id, session_id=session.id))
        self._on_outbox()

    # --- reply events ----------------------------------------------------------------------
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
        self._on_outbox()

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
                user_message.reply_status, user_message.reply_error = "failed", event.error
                repo.add(user_message)
            # updated_at stays: the gateway's copy of the session list is not told of failures.
            await repo.release_reply(event.session_id, event.exchange_id, None)
        metrics.REPLIES.labels("failed").inc()

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
        self._on_outbox()
