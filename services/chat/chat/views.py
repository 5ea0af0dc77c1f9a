"""Rows to wire contracts."""

from datetime import UTC, datetime

from sqlalchemy import Row

from chat.models import AiModel, Chatbot, ChatSession, Message
from shared.contracts.chat import AiModelOut, ChatbotOut, MessageOut, SessionOut


def as_utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive timestamps; everything stored is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def chatbot_out(bot: Chatbot) -> ChatbotOut:
    return ChatbotOut(
        id=bot.id, name=bot.name, description=bot.description, image=bot.image, is_active=bot.is_active,
        system_prompt=bot.system_prompt, chatbot_type=bot.chatbot_type,
    )


def model_out(model: AiModel) -> AiModelOut:
    return AiModelOut(
        id=model.id, name=model.name, model_id=model.model_id, description=model.description,
        model_type=model.model_type, is_active=model.is_active, is_free=model.is_free,
        token_cost_multiplier=model.token_cost_multiplier,
    )


def session_out(session: ChatSession, bot: Chatbot, model: AiModel) -> SessionOut:
    return SessionOut(
        id=session.id, chatbot=chatbot_out(bot), ai_model=model_out(model), title=session.title,
        auto_generate_title=session.auto_generate_title, created_at=as_utc(session.created_at),
        updated_at=as_utc(session.updated_at), is_active=session.is_active,
    )


def _json_time(moment: datetime | None) -> str | None:
    """A timestamp as the contracts write it (pydantic's JSON form: ISO 8601, UTC as `Z`)."""
    if moment is None:
        return None
    text = as_utc(moment).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_wire(row: Row) -> dict:
    """A listed message (the columns of ChatRepository.message_page) straight to the JSON form of
    MessageOut, without building an object per row: a long conversation's list costs its bytes."""
    (message_id, message_type, content, tokens_count, image_url, created_at, edited_at, disabled,
     reply_status, reply_error, reply_to, finish_reason) = row
    is_user = message_type == "user"
    return {
        "message_id": str(message_id), "message_type": message_type, "content": content,
        "tokens_count": tokens_count, "image_url": image_url, "created_at": _json_time(created_at),
        "edited_at": _json_time(edited_at), "disabled": bool(disabled),
        "reply_status": reply_status if is_user else None, "reply_error": reply_error if is_user else None,
        "reply_to": None if is_user or reply_to is None else str(reply_to),
        "finish_reason": None if is_user else finish_reason,
    }


def message_out(message: Message) -> MessageOut:
    is_user = message.message_type == "user"
    return MessageOut(
        message_id=message.message_id, message_type=message.message_type, content=message.content,
        tokens_count=message.tokens_count, image_url=message.image_url, created_at=as_utc(message.created_at),
        edited_at=as_utc(message.edited_at), disabled=message.disabled,
        reply_status=message.reply_status if is_user else None,
        reply_error=message.reply_error if is_user else None,
        reply_to=None if is_user else message.reply_to,
        finish_reason=None if is_user else message.finish_reason,
    )
