"""Markdown (what the models write) as Telegram HTML (parse_mode=HTML): everything escaped first, then
only the forms Telegram supports re-added — code blocks, inline code, bold, italic, links. Escaping
first means no model output can break the message or inject markup. Long text is split at
Telegram's 4096 characters, between paragraphs or lines where possible, each part rendered alone."""

import html
import re

TELEGRAM_LIMIT = 4096
# Source characters per part: escaping (&amp; …) and tags make the HTML longer than its source.
SOURCE_PART = 3500

_CODE_BLOCK = re.compile(r"```[a-zA-Z0-9_+-]*\n?(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def to_html(markdown: str) -> str:
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = html.escape(markdown, quote=False)
    text = _CODE_BLOCK.sub(lambda m: keep(f"<pre>{m.group(1)}</pre>"), text)
    text = _INLINE_CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), text)
    # The URL is escaped already (with the rest); only its quotes must not end the attribute.
    text = _LINK.sub(lambda m: f'<a href="{m.group(2).replace(chr(34), "&quot;")}">{m.group(1)}</a>', text)
    text = _BOLD.sub(r"<b>\1</b>", text)
    text = _ITALIC.sub(r"<i>\1</i>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def split_source(text: str, size: int = SOURCE_PART) -> list[str]:
    """Parts of at most `size` characters, cut at a paragraph, else a line, else a space."""
    parts: list[str] = []
    while len(text) > size:
        window = text[:size]
        cut = max(window.rfind("\n\n"), -1)
        if cut < size // 2:
            cut = window.rfind("\n")
        if cut < size // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    parts.append(text)
    return parts


def render_parts(markdown: str, size: int = SOURCE_PART) -> list[str]:
    """The HTML of each Telegram message the text needs (each ≤ 4096 characters)."""
    out: list[str] = []
    for part in split_source(markdown, size):
        rendered = to_html(part)
        if len(rendered) > TELEGRAM_LIMIT:  # heavy escaping (&amp; is 5 characters): smaller pieces
            out.extend(render_parts(part, max(1, size // 2)))
        else:
            out.append(rendered)
    return [p for p in out if p.strip()] or ["…"]
