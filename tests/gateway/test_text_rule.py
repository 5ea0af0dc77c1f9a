"""The shared text rule (api.md §3.5) and the chatbot picture rule (§5), as units."""

import pytest
from gateway.auth_service import clean_name
from pydantic import BaseModel, ValidationError

from shared.errors import ValidationFailed
from shared.media import image_reference_ok
from shared.text import Text, text_problem


class Body(BaseModel):
    text: Text(100)  # type: ignore[valid-type]


@pytest.mark.parametrize("value, problem", [
    ("a\x00b", "control_characters"), ("\x07", "control_characters"), ("x\x1b[2J", "control_characters"),
    ("\x7f", "control_characters"), ("\x85", "control_characters"), ("\ud800", "control_characters"),
    ("", "blank"), ("   ", "blank"), ("\u200b", "blank"), ("\u200c\u200d", "blank"), ("\u200e\u200f", "blank"),
    ("\ufeff", "blank"), ("\u2060\u00ad", "blank"), ("\u202e \u2066", "blank"),
])
def test_refused_text(value, problem):
    assert text_problem(value) == problem
    with pytest.raises(ValidationError):
        Body(text=value)


@pytest.mark.parametrize("value", ["hi", "می\u200cخواهم", "tab\tand\nnewline", "crlf\r\nline", "\u200bvisible", "😀"])
def test_accepted_text_keeps_invisible_characters_inside(value):
    assert text_problem(value) is None
    assert Body(text=f"  {value}  ").text == value.strip()


@pytest.mark.parametrize("name", ["N\x00", "\u200b\u200c", "   "])
def test_user_names_follow_the_rule(name):
    with pytest.raises(ValidationFailed) as invalid:
        clean_name(name)
    assert "name" in invalid.value.details["fields"]
    assert clean_name(" سارا\u200cجان ") == "سارا\u200cجان"


@pytest.mark.parametrize("url, ok", [
    ("/media/a.png", True), ("/media/x/y.webp", True), ("https://cdn.example.com/a.png", True),
    ("HTTPS://cdn.example.com/a.png", True), ("javascript:alert(1)", False), ("JAVASCRIPT:alert(1)", False),
    ("data:image/png;base64,AAAA", False), ("http://example.com/a.png", False), ("//evil.example/a", False),
    ("media/a.png", False), ("/media/", False), ("/media/../etc/passwd", False), ("/media/%2e%2e/x", False),
    ("https://", False), ("https://user:pw@example.com/a", False), ("/media/a b.png", False),
    ("/media\\a.png", False), ("vbscript:x", False), ("", False),
])
def test_chatbot_image_rule(url, ok):
    assert image_reference_ok(url) is ok
