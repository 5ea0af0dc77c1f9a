"""The only place with SQL for the chat service."""

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Row, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.models import (
    AiModel,
    AiModelPlan,
    Chatbot,
    ChatbotPlan,
    ChatSession,
    Message,
    Outbox,
    ProcessedMessage,
)
from shared.clock import utcnow
from shared.contracts.base import Contract
from shared.rpc import to_jsonable
from shared.tracing import inject_headers

# The send path's statements, built once: constructing a statement and its cache key on every call
# cost more than running it. UPDATE/DELETE skip synchronising the session's objects, which none of
# their callers hold.
_SESSION = select(ChatSession).where(col(ChatSession.id) == bindparam("session_id"))
# --- the conversation, read with Core (plain rows, nothing hydrated) on the indexes of models.Message
_M = Message.__table__
_ENABLED = (_M.c.session_id == bindparam("session_id")) & _M.c.disabled.is_(False)
# Message ids are INTEGER: every id is at most this, so "no upper bound" is a plain bound.
_NO_BOUND = 2**31 - 1
_HISTORY_PAGE = (
    sa_select(_M.c.id, _M.c.message_type, _M.c.content, _M.c.tokens_count, _M.c.running_tokens)
    .where(_ENABLED, _M.c.id <= bindparam("at_most"), _M.c.id >= bindparam("lowest"))
    .order_by(_M.c.id.desc()).limit(bindparam("limit"))
)
_HISTORY_START = (
    sa_select(_M.c.id)
    .where(_ENABLED, _M.c.id <= bindparam("at_most"), _M.c.running_tokens <= bindparam("floor"))
    .order_by(_M.c.running_tokens.desc(), _M.c.id.desc()).limit(1)
)
# The oldest enabled message whose running count reaches the floor: what follows it is what fits.
_HISTORY_CUT = (
    sa_select(_M.c.running_tokens)
    .where(_ENABLED, _M.c.id <= bindparam("at_most"), _M.c.running_tokens >= bindparam("floor"))
    .order_by(_M.c.running_tokens, _M.c.id).limit(1)
)
_LAST_RUNNING = sa_select(_M.c.running_tokens).where(_ENABLED).order_by(_M.c.id.desc()).limit(1)
_LATEST_IMAGE = (
    sa_select(_M.c.image_url)
    .where(_ENABLED, _M.c.id <= bindparam("at_most"), _M.c.image_url != "")
    .order_by(_M.c.id.desc()).limit(1)
)
_LAST_USER_MESSAGE = (
    select(Message)
    .where(col(Message.session_id) == bindparam("session_id"), col(Message.disabled).is_(False))
    .where(col(Message.message_type) == "user")
    .order_by(col(Message.id).desc()).limit(1)
)
_REPLY_AFTER = (
    sa_select(_M.c.id)
    .where(_ENABLED, _M.c.id > bindparam("after"), _M.c.message_type == "assistant").limit(1)
)
_ENABLED_AFTER = sa_select(_M.c.message_id).where(_ENABLED, _M.c.id > bindparam("after")).order_by(_M.c.id)
# UPDATE reserves column names as parameter names: the same range under other names.
_DISABLE_AFTER = (
    _M.update()
    .where(_M.c.session_id == bindparam("in_session"), _M.c.disabled.is_(False), _M.c.id > bindparam("after_id"))
    .values(disabled=True)
)
_FIRST_USER_TEXT = (
    sa_select(_M.c.content).where(_ENABLED, _M.c.message_type == "user").order_by(_M.c.id).limit(1)
)
_OTHER_REPLY = (
    sa_select(_M.c.id)
    .where(_M.c.session_id == bindparam("session_id"), _M.c.message_type == "assistant")
    .where(or_(_M.c.reply_to_exchange_id != bindparam("exchange_id"), _M.c.reply_to_exchange_id.is_(None))).limit(1)
)
# The columns of a listed message (api.md §3.5), in views.message_wire's order.
_LISTED = (_M.c.message_id, _M.c.message_type, _M.c.content, _M.c.tokens_count, _M.c.image_url, _M.c.created_at,
           _M.c.edited_at, _M.c.disabled, _M.c.reply_status, _M.c.reply_error, _M.c.reply_to, _M.c.finish_reason)
_USER_MESSAGE_OF_EXCHANGE = select(Message).where(
    col(Message.exchange_id) == bindparam("exchange_id"), col(Message.message_type) == "user"
)
_REPLY_OF_EXCHANGE = select(Message).where(col(Message.reply_to_exchange_id) == bindparam("exchange_id"))
# The claim taken when an exchange starts, before billing admits it (architecture §3: 409 is
# decided before any admission); it leaves updated_at alone, as a denied exchange changes nothing.
_CLAIM_ONLY = (
    update(ChatSession)
    .where(col(ChatSession.id) == bindparam("session_id"), col(ChatSession.is_active).is_(True))
    .where(or_(col(ChatSession.active_exchange_id).is_(None), col(ChatSession.active_since) < bindparam("stale_before")))
    .values(active_exchange_id=bindparam("exchange_id"), active_since=bindparam("now"))
    .execution_options(synchronize_session=False)
)
# The store step holds the exchange's claim: it locks the session row, so an abandon (which
# updates the same row) is ordered before or after it, never between.
_CONFIRM_CLAIM = (
    update(ChatSession)
    .where(col(ChatSession.id) == bindparam("session_id"), col(ChatSession.is_active).is_(True))
    .where(col(ChatSession.active_exchange_id) == bindparam("exchange_id"))
    .values(updated_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_RELEASE_REPLY_AS_IS = (
    update(ChatSession)
    .where(col(ChatSession.id) == bindparam("session_id"), col(ChatSession.active_exchange_id) == bindparam("exchange_id"))
    .values(active_exchange_id=None, active_since=None)
    .execution_options(synchronize_session=False)
)
_RELEASE_REPLY = _RELEASE_REPLY_AS_IS.values(updated_at=bindparam("now"))
_INSERT_OUTBOX = Outbox.__table__.insert().returning(Outbox.__table__.c.id)
_PENDING_OUTBOX = select(Outbox).order_by(col(Outbox.id)).limit(bindparam("limit"))
_PENDING_OUTBOX_BEFORE = (select(Outbox).where(col(Outbox.created_at) < bindparam("before"))
                          .order_by(col(Outbox.id)).limit(bindparam("limit")))
# Where a session keeps the outbox rows it inserted, for the relay to publish once it has committed.
STORED_OUTBOX = "chat.outbox"


def delete_outbox(ids: list[int]):
    """The statement that removes published rows (run alone: shared.db.execute_alone)."""
    return delete(Outbox).where(col(Outbox.id).in_(ids)).execution_options(synchronize_session=False)


def stored_outbox(session: AsyncSession) -> list[Outbox]:
    """The outbox rows this session inserted (and, once it committed, stored); taken, not copied."""
    return session.info.pop(STORED_OUTBOX, [])


def _at_most(below: int | None) -> int:
    return _NO_BOUND if below is None else below - 1


class ChatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def _run(self, statement, params: dict | None = None):
        """A Core statement on the session's connection (same transaction): plain rows, no objects."""
        return await (await self.s.connection()).execute(statement, params or {})

    # --- catalog -------------------------------------------------------------------------
    async def chatbot(self, chatbot_id: int) -> Chatbot | None:
        return await self.s.get(Chatbot, chatbot_id)

    async def chatbot_plan_ids(self, chatbot_id: int) -> set[int]:
        rows = await self.s.exec(select(ChatbotPlan.plan_id).where(ChatbotPlan.chatbot_id == chatbot_id))
        return set(rows.all())

    async def usable_chatbots(self, plan_id: int) -> list[Chatbot]:
        linked = select(ChatbotPlan.chatbot_id).where(ChatbotPlan.plan_id == plan_id)
        restricted = select(ChatbotPlan.chatbot_id)
        query = (
            select(Chatbot)
            .where(Chatbot.is_active)
            .where(or_(col(Chatbot.id).in_(linked), col(Chatbot.id).not_in(restricted)))
            .order_by(Chatbot.id)
        )
        return list((await self.s.exec(query)).all())

    async def model(self, model_pk: int) -> AiModel | None:
        return await self.s.get(AiModel, model_pk)

    async def model_by_slug(self, slug: str) -> AiModel | None:
        return (await self.s.exec(select(AiModel).where(AiModel.model_id == slug))).first()

    async def model_plan_ids(self, model_pk: int) -> set[int]:
        rows = await self.s.exec(select(AiModelPlan.plan_id).where(AiModelPlan.ai_model_id == model_pk))
        return set(rows.all())

    async def usable_models(self, plan_id: int) -> list[AiModel]:
        linked = select(AiModelPlan.ai_model_id).where(AiModelPlan.plan_id == plan_id)
        query = (
            select(AiModel)
            .where(AiModel.is_active)
            .where(or_(AiModel.is_free, col(AiModel.id).in_(linked)))
            .order_by(AiModel.id)
        )
        return list((await self.s.exec(query)).all())

    # --- sessions ------------------------------------------------------------------------
    async def session_of(self, user_id: int, session_id: int) -> ChatSession | None:
        row = (await self.s.exec(_SESSION, params={"session_id": session_id})).first()
        if row is None or row.user_id != user_id or not row.is_active:
            return None
        return row

    async def list_sessions(
        self, user_id: int, offset: int, limit: int | None, before: tuple[datetime, int] | None = None
    ) -> tuple[int, list[tuple[ChatSession, Chatbot, AiModel]]]:
        """A page of sessions with their chatbot and model, in one query (count only when paging by
        offset). `before` (updated_at, id) pages by keyset: the rows after that one in the list's
        order, read from the (user_id, is_active, updated_at, id) index however far down it is."""
        where = (ChatSession.user_id == user_id, ChatSession.is_active)
        query = (
            select(ChatSession, Chatbot, AiModel)
            .join(Chatbot, col(Chatbot.id) == ChatSession.chatbot_id)
            .join(AiModel, col(AiModel.id) == ChatSession.ai_model_id)
            .where(*where)
            .order_by(col(ChatSession.updated_at).desc(), col(ChatSession.id).desc())
        )
        if before is not None:
            moment, last_id = before
            query = query.where(or_(col(ChatSession.updated_at) < moment,
                                    (col(ChatSession.updated_at) == moment) & (col(ChatSession.id) < last_id)))
        elif offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = list((await self.s.exec(query)).all())
        if limit is None or before is not None:
            return len(rows), rows
        count = (await self.s.exec(select(func.count()).select_from(ChatSession).where(*where))).one()
        return count, rows

    async def claim_session(self, session_id: int, exchange_id: UUID, now: datetime, stale_before: datetime) -> bool:
        """Claim the session for an exchange starting; False while another holds it."""
        params = {"session_id": session_id, "exchange_id": exchange_id, "now": now, "stale_before": stale_before}
        return (await self.s.exec(_CLAIM_ONLY, params=params)).rowcount == 1

    async def take_over_claim(self, session_id: int, old: UUID, exchange_id: UUID, now: datetime) -> bool:
        """Replace the claim of exchange `old` (abandoned without a word) by `exchange_id`."""
        query = (update(ChatSession)
                 .where(col(ChatSession.id) == session_id, col(ChatSession.active_exchange_id) == old)
                 .values(active_exchange_id=exchange_id, active_since=now)
                 .execution_options(synchronize_session=False))
        return (await self.s.exec(query)).rowcount == 1

    async def confirm_claim(self, session_id: int, exchange_id: UUID, now: datetime) -> bool:
        """True if the exchange still holds the session (and marks it active now)."""
        params = {"session_id": session_id, "exchange_id": exchange_id, "now": now}
        return (await self.s.exec(_CONFIRM_CLAIM, params=params)).rowcount == 1

    async def stale_claims(self, before: datetime, limit: int = 100) -> list[ChatSession]:
        """Sessions whose exchange has made no progress since `before` (a reply never finished, or a
        claim whose exchange was never stored)."""
        query = (select(ChatSession).where(col(ChatSession.active_exchange_id).is_not(None))
                 .where(col(ChatSession.active_since) < before).limit(limit))
        return list((await self.s.exec(query)).all())

    async def release_reply(self, session_id: int, exchange_id: UUID, now: datetime | None) -> bool:
        """Free the session for the next exchange (True if `exchange_id` held it); `now` also marks it
        as active then (a stored reply), None leaves `updated_at` as it was (a failed reply adds
        nothing to the conversation)."""
        if now is None:
            result = await self.s.exec(_RELEASE_REPLY_AS_IS, params={"session_id": session_id, "exchange_id": exchange_id})
        else:
            params = {"session_id": session_id, "exchange_id": exchange_id, "now": now}
            result = await self.s.exec(_RELEASE_REPLY, params=params)
        return result.rowcount == 1

    # --- messages ------------------------------------------------------------------------
    async def history_page(self, session_id: int, below: int | None, lowest: int | None,
                           limit: int) -> Sequence[Row]:
        """Enabled messages of the session older than `below` (None: all) and not older than
        `lowest`, newest first, at most `limit`: only the columns a prompt needs, as plain rows."""
        params = {"session_id": session_id, "at_most": _at_most(below),
                  "lowest": lowest if lowest is not None else 0, "limit": limit}
        return (await self._run(_HISTORY_PAGE, params)).all()

    async def history_start(self, session_id: int, below: int | None, floor: int) -> int | None:
        """The newest enabled message (older than `below`) whose running count is at most `floor`:
        by the running counts, no older message fits a prompt whose budget leaves that floor."""
        params = {"session_id": session_id, "at_most": _at_most(below), "floor": floor}
        return (await self._run(_HISTORY_START, params)).scalar()

    async def history_cost(self, session_id: int, below: int | None, running_before: int, budget: int) -> int:
        """The prompt cost of the newest enabled messages (older than `below`, the newest of them
        counting `running_before`) that fit `budget`, from the running counts alone: the messages
        after the oldest one whose count reaches `running_before - budget` (one index probe)."""
        floor = running_before - budget
        if floor <= 0:
            return running_before  # the whole conversation fits
        params = {"session_id": session_id, "at_most": _at_most(below), "floor": floor}
        cut = (await self._run(_HISTORY_CUT, params)).scalar()
        # Counts written wrong (not by chat) can only make this estimate wrong, never leave the budget.
        return min(budget, max(0, running_before - cut)) if cut is not None else 0

    async def last_running_tokens(self, session_id: int) -> int:
        """The running count of the session's newest enabled message (0 for an empty conversation)."""
        found = (await self._run(_LAST_RUNNING, {"session_id": session_id})).scalar()
        return found or 0

    async def latest_image_url(self, session_id: int, below: int | None) -> str | None:
        """`image_url` of the newest enabled message older than `below` that has one."""
        params = {"session_id": session_id, "at_most": _at_most(below)}
        return (await self._run(_LATEST_IMAGE, params)).scalar()

    async def last_user_message(self, session_id: int) -> Message | None:
        return (await self.s.exec(_LAST_USER_MESSAGE, params={"session_id": session_id})).first()

    async def has_reply_after(self, session_id: int, message_pk: int) -> bool:
        params = {"session_id": session_id, "after": message_pk}
        return (await self._run(_REPLY_AFTER, params)).first() is not None

    async def disable_after(self, session_id: int, message_pk: int) -> list[UUID]:
        """Disable the enabled messages after one (an edit or a regenerate replaces them): a range
        of the conversation's index, whatever came before it is not touched. Their message_ids."""
        params = {"session_id": session_id, "after": message_pk}
        later = list((await self._run(_ENABLED_AFTER, params)).scalars())
        if later:
            await self._run(_DISABLE_AFTER, {"in_session": session_id, "after_id": message_pk})
        return later

    async def first_user_text(self, session_id: int) -> str | None:
        return (await self._run(_FIRST_USER_TEXT, {"session_id": session_id})).scalar()

    async def message_position(self, session_id: int, message_id: UUID) -> int | None:
        """Where a message of the session stands in the conversation's order (its id); None if it
        is not one of the session's messages."""
        query = select(Message.id).where(Message.session_id == session_id, Message.message_id == message_id)
        return (await self.s.exec(query)).first()

    async def message_page(self, session_id: int, after: int | None, before: int | None,
                           limit: int | None) -> tuple[Sequence[Row], bool]:
        """The enabled messages between two positions, oldest first: all of them, or the newest
        `limit` and whether older ones were left out. A keyset read on (session_id, disabled, id):
        a page costs the same however long the conversation is. Plain rows of the listed columns
        (views.message_wire turns them into the wire form): nothing is hydrated into objects."""
        query = sa_select(*_LISTED).where(_M.c.session_id == session_id, _M.c.disabled.is_(False))
        if after is not None:
            query = query.where(_M.c.id > after)
        if before is not None:
            query = query.where(_M.c.id < before)
        if limit is None:
            return (await self._run(query.order_by(_M.c.id))).all(), False
        newest = (await self._run(query.order_by(_M.c.id.desc()).limit(limit + 1))).all()
        return newest[:limit][::-1], len(newest) > limit

    async def message_in_session(self, session_id: int, message_id: UUID) -> Message | None:
        query = select(Message).where(Message.session_id == session_id, Message.message_id == message_id)
        return (await self.s.exec(query)).first()

    async def user_message_of_exchange(self, exchange_id: UUID) -> Message | None:
        return (await self.s.exec(_USER_MESSAGE_OF_EXCHANGE, params={"exchange_id": exchange_id})).first()

    async def reply_of_exchange(self, exchange_id: UUID) -> Message | None:
        return (await self.s.exec(_REPLY_OF_EXCHANGE, params={"exchange_id": exchange_id})).first()

    async def has_other_reply(self, session_id: int, exchange_id: UUID) -> bool:
        """Whether the session has a reply from another exchange than this one (at most one row read)."""
        params = {"session_id": session_id, "exchange_id": exchange_id}
        return (await self._run(_OTHER_REPLY, params)).first() is not None

    def detach(self, row):
        """`row`, no longer tied to this session: kept beyond it (a cache), a rollback of the session
        must not expire its attributes."""
        if row is not None:
            self.s.expunge(row)
        return row

    def add(self, row) -> None:
        self.s.add(row)

    async def flush(self) -> None:
        await self.s.flush()

    # --- outbox and inbox ----------------------------------------------------------------
    async def enqueue(self, exchange: str, routing_key: str, message: Contract, extra: dict | None = None) -> None:
        """Queue `message` for the outbox relay; `extra` replaces fields of its JSON form (a prompt's
        turns, already JSON: chat.history.Prompt.command_fields)."""
        body = to_jsonable(message) if extra is None else {**to_jsonable(message), **extra}
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        row = {"exchange": exchange, "routing_key": routing_key, "payload": payload, "created_at": utcnow(),
               "headers": json.dumps(inject_headers(), separators=(",", ":"))}
        # A plain INSERT (no object to track); the row is kept beside the session, so the relay can
        # publish it after the commit without reading it back (chat.outbox).
        row_id = (await self.s.exec(_INSERT_OUTBOX, params=row)).scalar_one()
        self.s.info.setdefault(STORED_OUTBOX, []).append(Outbox(id=row_id, **row))

    async def pending_outbox(self, limit: int, before: datetime | None = None) -> list[Outbox]:
        """The oldest rows not yet published (with `before`: only rows stored before it)."""
        if before is None:
            return list((await self.s.exec(_PENDING_OUTBOX, params={"limit": limit})).all())
        return list((await self.s.exec(_PENDING_OUTBOX_BEFORE, params={"limit": limit, "before": before})).all())

    async def first_time(self, message_id: UUID) -> bool:
        """Record a consumed event id; False when it was already processed."""
        if await self.s.get(ProcessedMessage, message_id) is not None:
            return False
        self.s.add(ProcessedMessage(message_id=message_id))
        return True
