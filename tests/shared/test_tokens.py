"""The shipped cl100k_base file: loaded offline, checked against tiktoken's pinned hash."""

import pytest
from tiktoken.load import load_tiktoken_bpe

from shared import tokens

# Token ids of cl100k_base as OpenAI's tokenizer gives them.
KNOWN = {
    "hello world": [15339, 1917],
    "def f(x):\n    return x**2  # 123456789": [755, 282, 2120, 997, 262, 471, 865, 334, 17, 220, 674, 220, 4513,
                                                10961, 16474],
    "سلام دنیا! چطوری؟": [20665, 8700, 50488, 45430, 12061, 14728, 5821, 0, 220, 150, 228, 44735, 59756, 14728,
                          148, 253],
}


@pytest.mark.parametrize("text", list(KNOWN))
def test_the_shipped_encoding_is_cl100k_base(text):
    assert tokens._encoding().encode(text, disallowed_special=()) == KNOWN[text]
    assert tokens.count_text(text) == len(KNOWN[text])


def test_special_token_text_is_counted_as_plain_text():
    assert tokens.count_text("<|endoftext|>") == 7


def test_a_file_that_does_not_match_the_pinned_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    tampered = tmp_path / "cl100k_base.tiktoken"
    tampered.write_bytes(tokens.BPE_FILE.read_bytes().replace(b" 0\n", b" 1\n", 1))
    with pytest.raises(ValueError, match="Hash mismatch"):
        load_tiktoken_bpe(str(tampered), expected_hash=tokens.BPE_SHA256)
