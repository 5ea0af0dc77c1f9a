"""Chat turns as OpenRouter messages; images we stored are sent back inline as data URLs."""

import logging
from typing import Any

from shared.contracts.llm import ChatTurn
from shared.media import InvalidMedia, MediaStore

log = logging.getLogger(__name__)


async def _image_url(url: str, media: MediaStore) -> str | None:
    if url.startswith("data:"):
        return url
    if media.owns(url):
        # Our URLs are relative to the gateway, which the provider cannot reach: send the bytes.
        try:
            return (await media.load(url)).to_data_url()
        except (InvalidMedia, OSError) as exc:
            log.warning("image %s cannot be sent along: %s", url, exc)
            return None
    if url.startswith(("http://", "https://")):
        return url
    log.warning("image %s is neither a data URL, an http URL nor ours; left out", url)
    return None


async def to_openrouter_messages(turns: list[ChatTurn], media: MediaStore) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns:
        urls = [u for u in [await _image_url(url, media) for url in turn.image_urls] if u]
        if not urls:
            messages.append({"role": turn.role, "content": turn.content})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": turn.content}]
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        messages.append({"role": turn.role, "content": parts})
    return messages
