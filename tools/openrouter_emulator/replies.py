"""The emulator's reply text: derived from the prompt, split into chunks, capped at `max_tokens`."""

import re
from dataclasses import dataclass

from openrouter_emulator import directives
from shared.tokens import count_text

_PERSIAN = re.compile(r"[\u0600-\u06FF]")
_QUOTES = "\"'«»“”‘’`"
_ENGLISH_TEXT = (
    "Here is a considered answer from the emulated model. It streams a few dozen chunks so "
    "clients can render text as it arrives, report usage with a cost at the end, and show how "
    "a real provider behaves when everything goes well."
)
_PERSIAN_TEXT = (
    "این پاسخ از مدل شبیه‌سازی شده می‌آید. متن آن تکه تکه فرستاده می‌شود تا برنامه بتواند "
    "آن را هنگام رسیدن نمایش دهد و در پایان مصرف و هزینه را گزارش کند."
)
_ENGLISH_FILLER = _ENGLISH_TEXT.split()
_PERSIAN_FILLER = _PERSIAN_TEXT.split()
ECHO_WORDS = 12


def text_of(content: object) -> str:
    """Text of a message's content: a string, or the text parts of a multimodal list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def wants_title(messages: list[dict]) -> bool:
    return any(m.get("role") == "system" and "title" in text_of(m.get("content")).lower() for m in messages)


def reply_words(messages: list[dict], words: int) -> list[str]:
    """The reply as a list of words (one chunk each)."""
    said = directives.strip(last_user_text(messages))
    if wants_title(messages):
        # Title requests quote a few words of the conversation, so callers must strip quotes.
        text = re.sub(r"^\s*user\s*:\s*", "", said, flags=re.IGNORECASE)
        first = [w.strip(_QUOTES) for w in text.split()[:4]] or ["Untitled"]
        return f'"{" ".join(first)}"'.split()
    persian = bool(_PERSIAN.search(said))
    echo = " ".join(said.split()[:ECHO_WORDS]) or ("…")
    opening = f"شما گفتید: «{echo}»." if persian else f'You said: "{echo}".'
    result = opening.split()
    filler = _PERSIAN_FILLER if persian else _ENGLISH_FILLER
    i = 0
    while len(result) < words:
        result.append(filler[i % len(filler)])
        i += 1
    return result


@dataclass
class Reply:
    chunks: list[str]
    finish_reason: str  # "stop", or "length" when max_tokens cut it

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def build_reply(words: list[str], max_tokens: int | None) -> Reply:
    """Chunks ("word " each) whose concatenation never exceeds `max_tokens` tokens."""
    chunks = [w + " " for w in words[:-1]] + words[-1:]
    if max_tokens is None or count_text("".join(chunks)) <= max_tokens:
        return Reply(chunks, "stop")
    kept: list[str] = []
    text = ""
    for chunk in chunks:
        # Re-count the whole text: BPE tokens can merge across chunk boundaries.
        if count_text(text + chunk) > max_tokens:
            return Reply(kept, "length")
        kept.append(chunk)
        text += chunk
    return Reply(kept, "stop")
