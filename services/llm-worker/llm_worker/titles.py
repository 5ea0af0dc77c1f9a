"""The title request sent upstream and the clean-up of what comes back."""

import re

INSTRUCTIONS = (
    "You write titles for conversations. Answer with a title of at most 5 words, in the same "
    "language as the conversation. Answer with the title only: no quotes, no label, no final period."
)
MAX_WORDS = 5
MAX_CHARS = 50
EXCERPT_CHARS = 2000
# Quotation marks of the languages we serve; apostrophes inside words are left alone.
_QUOTES = "\"“”„«»‹›「」『』`'‘’"
_LABEL = re.compile(r"^\s*(title|عنوان)\s*[:：]\s*", re.IGNORECASE)


def title_messages(user_text: str, reply_text: str) -> list[dict[str, str]]:
    conversation = f"User: {user_text[:EXCERPT_CHARS]}\n\nAssistant: {reply_text[:EXCERPT_CHARS]}"
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": conversation}]


def clean_title(raw: str) -> str | None:
    """At most 5 words and 50 characters, without quotes or a label; None when nothing is left."""
    line = next((ln for ln in raw.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line)
    line = re.sub(r"[\"“”„«»‹›「」『』`]", "", line)  # double-style quotes never belong in a title
    words = [w for w in (w.strip(_QUOTES) for w in line.split()) if w]
    title = " ".join(words[:MAX_WORDS]).rstrip(" .:;,،")
    title = title[:MAX_CHARS].rstrip()
    return title or None
