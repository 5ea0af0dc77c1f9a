"""The checks chat's use cases share: a valid text, what a plan may use, whose session it is."""

from chat.models import AiModel, Chatbot, ChatSession
from chat.repository import ChatRepository
from shared.contracts import chat as c
from shared.errors import AccessDenied, NotFound, ValidationFailed
from shared.text import ENGLISH as TEXT_PROBLEMS
from shared.text import text_problem


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def checked_text(field: str, value: str | None, most: int, empty: str) -> str:
    """The shared text rule again behind the gateway (a NUL would fail PostgreSQL's insert as a 503)."""
    text = (value or "").strip()
    if not text:
        raise invalid(field, empty)
    problem = text_problem(text)
    if problem is not None:
        raise invalid(field, TEXT_PROBLEMS[problem])
    if len(text) > most:
        raise invalid(field, f"Ensure this field has no more than {most} characters.")
    return text


def chatbot_denied() -> AccessDenied:
    return AccessDenied("Your plan does not include this chatbot.", code="chatbot_access_denied")


def model_denied() -> AccessDenied:
    return AccessDenied("Your plan does not include this AI model.", code="model_access_denied")


async def chatbot_usable(repo: ChatRepository, bot: Chatbot, plan_id: int) -> bool:
    plans = await repo.chatbot_plan_ids(bot.id)
    return bot.is_active and (not plans or plan_id in plans)


async def model_usable(repo: ChatRepository, model: AiModel, plan_id: int) -> bool:
    return model.is_active and (model.is_free or plan_id in await repo.model_plan_ids(model.id))


async def owned_session(repo: ChatRepository, q: c.SessionQuery) -> ChatSession:
    """The caller's session (NotFound for another user's, or a deleted one)."""
    session = await repo.session_of(q.user_id, q.session_id)
    if session is None:
        raise NotFound()
    return session
