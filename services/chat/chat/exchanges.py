"""The send / edit / regenerate exchange (architecture §3): claim the session, build the prompt, have
billing admit, store at one commit point; a caller that got no answer abandons it; stop a reply."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from chat.catalog_cache import CatalogCache
from chat.checks import chatbot_denied, checked_text, invalid, model_denied, owned_session
from chat.history import Prompt, message_cost, prompt_for
from chat.models import AiModel, Chatbot, ChatSession, Message
from chat.repository import ChatRepository
from chat.settings import ChatSettings
from chat.use_case import OnOutbox
from chat.views import message_out
from shared import deadlines, metrics
from shared.bounds import MAX_MESSAGE_CHARS
from shared.clock import Clock
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.contracts.llm import GenerateReply, StopRequested
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, DomainError, NotFound, Unavailable
from shared.tokens import count_text
from shared.topology import COMMANDS, EVENTS, Keys

log = logging.getLogger(__name__)


class _Stored(Exception):  # rolls the release back and carries the stored exchange
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


class Exchanges:
    """Runs, abandons and stops exchanges; every path that goes no further gives the claim back."""

    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock, catalog: CatalogCache,
                 billing: Admitter | None, on_outbox: OnOutbox) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.catalog = catalog  # the send path reads its catalog rows from here
        self.billing = billing
        self._on_outbox = on_outbox

    async def _require_access(self, repo: ChatRepository, session: ChatSession, plan_id: int) -> tuple[Chatbot, AiModel]:
        """The session's chatbot and model, if the plan may use them (the send path: cached rows)."""
        bot, bot_plans = await self.catalog.chatbot(repo, session.chatbot_id)
        model, model_plans = await self.catalog.model(repo, session.ai_model_id)
        if bot is None or not bot.is_active or (bot_plans and plan_id not in bot_plans):
            raise chatbot_denied()
        if model is None or not model.is_active or not (model.is_free or plan_id in model_plans):
            raise model_denied()
        return bot, model

    def _busy(self, session: ChatSession) -> bool:
        if session.active_exchange_id is None or session.active_since is None:
            return False
        since = session.active_since if session.active_since.tzinfo else session.active_since.replace(tzinfo=self.clock.now().tzinfo)
        return since > self.clock.now() - timedelta(seconds=self.settings.reply_stale_after_seconds)

    async def _exchange_access(self, repo: ChatRepository, q: c.RunExchange) -> Prepared:
        """The caller's session and the catalog rows it uses, checked against the plan (whether a
        reply is in progress is the claim's to decide)."""
        session = await owned_session(repo, q)
        bot, model = await self._require_access(repo, session, q.plan_id)
        return Prepared(session, bot, model)

    async def _exchange_input(self, repo: ChatRepository, prepared: Prepared, q: c.RunExchange) -> ExchangeInput:
        """The user message an edit or a regenerate answers again (None for a new send), the text the
        reply answers, and its prompt from the history before that message (a bounded read)."""
        session, bot, model = prepared.session, prepared.bot, prepared.model
        target: Message | None = None
        if q.kind == "send":
            checked_text("message", q.content, MAX_MESSAGE_CHARS, "Message must not be empty.")
            text = q.content
        elif q.kind == "edit":
            target = await repo.message_in_session(session.id, q.message_id) if q.message_id else None
            if target is None or target.message_type != "user" or target.disabled:
                raise NotFound()
            checked_text("content", q.content, MAX_MESSAGE_CHARS, "Content must not be empty.")
            text = q.content
        else:  # regenerate: the last user message, whose reply (if any) is replaced
            target = await repo.last_user_message(session.id)
            if target is None or (target.reply_status != "failed" and not await repo.has_reply_after(session.id, target.id)):
                raise invalid("message", "There is no reply to regenerate.")
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
            self._on_outbox(None)  # its rows were stored by a commit this process cannot see
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

    async def _take_over_orphan(self, repo: ChatRepository, session: ChatSession, exchange_id: UUID, now: datetime) -> bool:
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
                fallback_models=fallbacks, max_tokens=max_tokens,
                modalities=["image", "text"] if bot.chatbot_type == "image" else None,
            ), extra=prompt.command_fields(session.id, target.id))
            stored = message_out(target)
            await repo.enqueue(EVENTS.name, Keys.REPLY_QUEUED, c.ReplyQueued(
                exchange_id=q.exchange_id, session_id=session.id, user_id=q.user_id, user_message=stored,
            ))
        self._on_outbox(s)
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
            self._on_outbox(s)
        return None

    async def stop_reply(self, q: c.SessionQuery) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await owned_session(repo, q)
            if not self._busy(session):
                raise Conflict("No reply is in progress for this session.", code="no_reply_in_progress")
            await repo.enqueue(EVENTS.name, Keys.REPLY_STOP_REQUESTED,
                         StopRequested(exchange_id=session.active_exchange_id, session_id=session.id))
        self._on_outbox(s)
