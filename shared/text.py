"""The one rule for text people write (api.md §3.5): messages, edits, titles and names.

Refused: control characters other than tab and newline (NUL fails PostgreSQL's insert; the others
corrupt logs and terminals) and lone surrogates (not encodable as UTF-8). Text that is empty once
whitespace and Unicode format characters (category Cf: zero-width space, joiners, direction marks,
BOM) are removed is blank. Inside visible text those characters are kept: Persian needs the ZWNJ.
Gateway schemas use `Text`; chat checks again with `text_problem` (defence in depth).
"""

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

# CR only as part of a line ending: browsers and Windows clients send "\r\n".
ALLOWED_CONTROLS = frozenset("\t\n\r")
Problem = Literal["control_characters", "blank"]
ENGLISH: dict[Problem, str] = {
    "control_characters": "Control characters (such as NUL) are not allowed.",
    "blank": "This field may not be blank.",
}


def _refused(ch: str) -> bool:
    if ch in ALLOWED_CONTROLS:
        return False
    return unicodedata.category(ch) in ("Cc", "Cs")


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch) != "Cf"


def text_problem(value: str, *, blank_ok: bool = False) -> Problem | None:
    """What is wrong with `value`, or None. `blank_ok` for optional prose (descriptions, prompts)."""
    if any(_refused(ch) for ch in value):
        return "control_characters"
    if not blank_ok and not any(_visible(ch) for ch in value):
        return "blank"
    return None


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _checker(blank_ok: bool):
    def check(value: str) -> str:
        problem = text_problem(value, blank_ok=blank_ok)
        if problem is not None:
            raise PydanticCustomError(problem, ENGLISH[problem])
        return value

    return check


def Text(max_length: int, *, blank_ok: bool = False, strip: bool = True, **field: object) -> object:
    """A pydantic string type under the rule: trimmed (unless `strip` is False), 1..max_length
    characters (0 allowed when `blank_ok`), no control characters, not blank."""
    # A validator wraps what is left of it: trimming runs first, then the length constraints.
    return Annotated[
        str,
        Field(min_length=0 if blank_ok else 1, max_length=max_length, **field),
        BeforeValidator(_strip if strip else (lambda value: value)),
        AfterValidator(_checker(blank_ok)),
    ]
