"""RPC calls answered by the chat service, their payloads, and the events chat publishes."""

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.admin_fields import AiModelPatch, ChatbotPatch, SetFields
from shared.contracts.base import Contract, Message
from shared.contracts.billing import RateLimitInfo


class RpcNames:
    """The RPC names chat answers (queries and commands alike): each is its queue's routing key."""

    PING = "chat.ping"
    LIST_CHATBOTS = "chat.list_chatbots"  # CatalogQuery -> list[ChatbotOut]
    GET_CHATBOT = "chat.get_chatbot"  # CatalogItemQuery -> ChatbotOut
    LIST_MODELS = "chat.list_models"  # CatalogQuery -> list[AiModelOut]
    GET_MODEL = "chat.get_model"  # CatalogItemQuery -> AiModelOut
    CREATE_SESSION = "chat.create_session"  # CreateSession -> SessionOut
    LIST_SESSIONS = "chat.list_sessions"  # ListSessions -> SessionPage
    GET_SESSION = "chat.get_session"  # SessionQuery -> SessionOut
    UPDATE_SESSION = "chat.update_session"  # UpdateSession -> SessionOut
    DELETE_SESSION = "chat.delete_session"  # SessionQuery -> None
    LIST_MESSAGES = "chat.list_messages"  # ListMessages -> MessagePage
    RUN_EXCHANGE = "chat.run_exchange"  # RunExchange -> ExchangeStored | LimitExceeded
    STOP_REPLY = "chat.stop_reply"  # SessionQuery -> None
    ABANDON_EXCHANGE = "chat.abandon_exchange"  # AbandonExchange -> ExchangeStored | None


ChatbotType = Literal["text", "image"]
ExchangeKind = Literal["send", "edit", "regenerate"]
ReplyStatus = Literal["queued", "streaming", "completed", "failed"]
# Why an assistant reply ended: "stop" (complete), "length" (max_tokens cut it), "stopped" (by the
# user), "error" (the provider cut it short: the text is partial).
FinishReason = Literal["stop", "length", "stopped", "error"]


class ChatbotOut(Contract):
    id: int
    name: str
    description: str
    image: str | None
    is_active: bool
    system_prompt: str
    chatbot_type: ChatbotType


class AiModelOut(Contract):
    id: int
    name: str
    model_id: str
    description: str
    model_type: ChatbotType
    is_active: bool
    is_free: bool
    token_cost_multiplier: Decimal


class SessionOut(Contract):
    id: int
    chatbot: ChatbotOut
    ai_model: AiModelOut
    title: str
    auto_generate_title: bool
    created_at: datetime
    updated_at: datetime
    is_active: bool


class MessageOut(Contract):
    message_id: UUID
    message_type: Literal["user", "assistant"]
    content: str
    tokens_count: int
    image_url: str
    created_at: datetime
    edited_at: datetime | None
    disabled: bool
    reply_status: ReplyStatus | None = None  # user messages only
    reply_error: str | None = None
    reply_to: UUID | None = None  # assistant messages: the message_id of the user message answered
    finish_reason: FinishReason | None = None  # assistant messages only


class CatalogQuery(Contract):
    plan_id: int


class CatalogItemQuery(CatalogQuery):
    item_id: int


class CreateSession(Contract):
    user_id: int
    plan_id: int
    chatbot_id: int
    ai_model_id: str | None = None
    title: str | None = None
    auto_generate_title: bool = True


class ListSessions(Contract):
    user_id: int
    offset: int = 0
    limit: int | None = None  # None: all
    # Keyset paging (the gateway rebuilding its copy): only the sessions after this one in the list's
    # order (updated_at DESC, id DESC); the answer's count is then just the page's.
    before_updated_at: datetime | None = None
    before_id: int | None = None


class SessionPage(Contract):
    count: int
    items: list[SessionOut]


class SessionQuery(Contract):
    user_id: int
    session_id: int


# The largest page of messages one `?limit=` may ask for (api.md §3.5).
MAX_MESSAGE_PAGE = 200


class ListMessages(SessionQuery):
    """The session's enabled messages in order: after one message, before another, or (with
    `limit`) only the newest `limit` of those; no bounds and no limit is every message."""

    after: UUID | None = None
    before: UUID | None = None
    limit: int | None = None


class MessagePage(Contract):
    messages: list[MessageOut]
    has_more: bool = False  # with a limit: older messages (within after/before) were left out


class UpdateSession(SessionQuery):
    plan_id: int
    title: str | None = None
    auto_generate_title: bool | None = None
    ai_model_id: str | None = None


class RunExchange(SessionQuery):
    """One send, edit or regenerate, whole (architecture §3): chat claims the session, checks the
    plan's access, builds the prompt, asks billing to admit and reserve, and stores the user message
    with its `GenerateReply`. The caller names the exchange, so it can ask about it (`AbandonExchange`)
    when the answer does not come."""

    plan_id: int
    exchange_id: UUID
    kind: ExchangeKind = "send"
    content: str | None = None  # send/edit: the user's text
    message_id: UUID | None = None  # edit: the user message being edited


class ExchangeStored(Contract):
    user_message: MessageOut
    disabled_message_ids: list[UUID] = Field(default_factory=list)
    # billing's tightest message window at admission; None when that answer is not at hand (the
    # exchange was found stored after its first answer was lost)
    rate_limit: RateLimitInfo | None = None


class AbandonExchange(SessionQuery):
    """The caller got no answer to its `RunExchange` (timeout, broker gone, client gone): chat frees
    the session's claim unless the exchange was stored, and answers the stored exchange if it was.
    Ordered with a late store on the session row, so exactly one of them wins; the reservation of an
    exchange it gives up is released by `ExchangeAbandoned`."""

    exchange_id: UUID


# Events chat publishes (for the gateway's streams and for billing).


class ReplyQueued(Message):
    exchange_id: UUID
    session_id: int
    user_id: int
    user_message: MessageOut


class ReplyStored(Message):
    exchange_id: UUID
    session_id: int
    user_id: int
    message: MessageOut  # the stored assistant message


class ReplyFailureStored(Message):
    """Chat stored that a reply failed (the worker's `ReplyFailed`, or no answer in time). The stream's
    `reply.failed` comes from this, after the commit, as `reply.completed` comes from `ReplyStored`:
    a client that reads the messages when it sees the event finds the failure there."""

    exchange_id: UUID
    session_id: int
    user_id: int
    error: str


class SessionTitled(Message):
    session_id: int
    user_id: int
    title: str


class ExchangeAbandoned(Message):
    """An exchange that will never produce a reply (not stored after its admission, given up by its
    caller, or stuck past the reply deadline): billing releases its reservation, if it holds one."""

    exchange_id: UUID
    user_id: int
    # "timed_out": chat failed the reply after its deadline (the user saw a failure); None: the send
    # was never stored (the user got an error answer, not a failed reply). Reports tell them apart.
    reason: str | None = None


# Admin (staff) catalog management.


class AdminRpcNames:
    """The RPC names of the staff catalog management chat answers."""

    LIST_MODELS = "chat.admin_list_models"  # AdminList -> list[AdminAiModel]
    GET_MODEL = "chat.admin_get_model"  # AdminItem -> AdminAiModel
    SAVE_MODEL = "chat.admin_save_model"  # SaveAiModel -> AdminAiModel
    DELETE_MODEL = "chat.admin_delete_model"  # AdminItem -> None
    LIST_CHATBOTS = "chat.admin_list_chatbots"
    GET_CHATBOT = "chat.admin_get_chatbot"
    SAVE_CHATBOT = "chat.admin_save_chatbot"  # SaveChatbot -> AdminChatbot
    DELETE_CHATBOT = "chat.admin_delete_chatbot"
    SYNC_MODELS = "chat.admin_sync_models"  # AdminList -> ModelsSynced | UpstreamFailed


class AdminList(Contract):
    pass


class AdminItem(Contract):
    item_id: int


class AdminAiModel(AiModelOut):
    subscription_type_ids: list[int] = Field(default_factory=list)
    context_tokens: int
    max_reply_tokens: int
    prompt_price_usd_per_mtok: Decimal | None = None
    completion_price_usd_per_mtok: Decimal | None = None
    fallback_model_ids: list[str] = Field(default_factory=list)


class AdminChatbot(ChatbotOut):
    subscription_type_ids: list[int] = Field(default_factory=list)
    default_model_id: str | None = None


class SaveAiModel(Contract):
    """Create (item_id None) or update; `fields` holds only what the request set (chat checks what a
    create or a PUT requires)."""

    item_id: int | None = None
    partial: bool = False
    fields: SetFields[AiModelPatch]


class SaveChatbot(Contract):
    item_id: int | None = None
    partial: bool = False
    fields: SetFields[ChatbotPatch]


class SyncedModel(Contract):
    id: int
    openrouter_id: str
    changes: dict[str, list]  # catalog field -> [old, new]


class ModelsSynced(Contract):
    """What a sync from OpenRouter's model list changed in the catalog."""

    updated: list[SyncedModel]
    unchanged: int
    not_in_catalog: list[str]  # OpenRouter ids with no catalog model
