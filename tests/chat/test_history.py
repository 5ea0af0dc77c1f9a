"""Prompt building: system prompt first, disabled history excluded by the caller, oldest dropped first."""

from chat.history import build_prompt, fallback_title, latest_image
from chat.models import Message

from shared.contracts.llm import ChatTurn
from shared.tokens import count_text


def _msg(kind: str, text: str, image: str = "") -> Message:
    return Message(session_id=1, user_id=1, message_type=kind, content=text, tokens_count=count_text(text), image_url=image)


def test_system_prompt_history_and_new_message_in_order():
    past = [_msg("user", "first question"), _msg("assistant", "first answer")]
    turns, tokens = build_prompt("Be brief.", past, ChatTurn(role="user", content="second"), 16_000)
    assert [(t.role, t.content) for t in turns] == [
        ("system", "Be brief."), ("user", "first question"), ("assistant", "first answer"), ("user", "second"),
    ]
    assert tokens > sum(count_text(t.content) for t in turns)  # framing overhead is counted


def test_oldest_messages_dropped_first_but_system_and_new_message_kept():
    past = [_msg("user", "old " * 400), _msg("assistant", "middle " * 400), _msg("user", "recent")]
    turns, tokens = build_prompt("System.", past, ChatTurn(role="user", content="now"), 500)
    contents = [t.content for t in turns]
    assert contents[0] == "System." and contents[-1] == "now"
    assert "recent" in contents
    assert not any(c.startswith("old") for c in contents)
    assert tokens <= 500


def test_no_system_prompt_means_no_system_turn():
    turns, _ = build_prompt("", [], ChatTurn(role="user", content="hi"), 1000)
    assert [t.role for t in turns] == ["user"]


def test_latest_image_is_the_last_generated_one():
    past = [_msg("assistant", "a", "/media/a.png"), _msg("user", "more"), _msg("assistant", "b", "/media/b.png,/media/c.png")]
    assert latest_image(past) == "/media/c.png"
    assert latest_image([_msg("user", "x")]) is None


def test_fallback_title_is_first_words_cut_to_50():
    assert fallback_title("Tell me about the history of Rome please") == "Tell me about the history"
    assert len(fallback_title("x" * 80)) == 50
    assert fallback_title("   ") == "New Chat"
