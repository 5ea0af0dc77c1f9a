"""Markdown as Telegram HTML (fast tier: no processes): escaped first, then only Telegram's forms."""

from telegram_bot.render import TELEGRAM_LIMIT, render_parts, split_source, to_html


def test_model_output_cannot_inject_markup():
    assert to_html("<b>not bold</b> & <script>") == "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;script&gt;"


def test_supported_forms_become_telegram_html():
    assert to_html("**bold** and *it* and `x < y`") == "<b>bold</b> and <i>it</i> and <code>x &lt; y</code>"
    assert to_html("```python\nprint('**no**')\n```") == "<pre>print('**no**')\n</pre>"
    assert to_html("[site](https://example.com/a?b=1&c=2)") == '<a href="https://example.com/a?b=1&amp;c=2">site</a>'


def test_unfinished_markers_while_streaming_stay_plain():
    assert to_html("**half") == "**half"
    assert to_html("a `b") == "a `b"


def test_non_http_links_are_not_links():
    assert "<a" not in to_html("[x](javascript:alert(1))")


def test_long_text_is_split_between_paragraphs_and_every_part_fits():
    text = "\n\n".join(f"Paragraph {i} " + "word " * 150 for i in range(20))
    parts = split_source(text)
    assert len(parts) > 1 and all(len(p) <= 3500 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_heavily_escaped_text_still_fits():
    parts = render_parts("<&>" * 3000)
    assert len(parts) > 1 and all(len(p) <= TELEGRAM_LIMIT for p in parts)
