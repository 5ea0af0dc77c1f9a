"""Token counting with tiktoken's cl100k_base, loaded from the copy shipped in this package.

tiktoken downloads its encodings at first use, which fails without network; the file is shipped in
`shared/data/` and checked against the hash tiktoken itself pins for it.
"""

import functools
from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe

BPE_FILE = Path(__file__).parent / "data" / "cl100k_base.tiktoken"
# The SHA-256 tiktoken pins for cl100k_base (tiktoken_ext/openai_public.py).
BPE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# cl100k_base's split pattern and special tokens, as tiktoken defines them.
PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
# Per-message framing overhead of the chat format (role markers), as OpenAI documents it.
MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3


@functools.cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="cl100k_base",
        pat_str=PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(BPE_FILE), expected_hash=BPE_SHA256),
        special_tokens=SPECIAL_TOKENS,
    )


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
