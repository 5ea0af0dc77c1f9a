"""Every message body on RabbitMQ stays small: big JSON bodies are compressed, and a command or event
still over `MAX_BROKER_MESSAGE_BYTES` is refused before it reaches the broker.

RabbitMQ keeps each queued body in memory and in its quorum queue's log until it is consumed and the
log is truncated, so the size of the biggest bodies sets how far the broker's memory climbs. The
biggest body was `GenerateReply`, whose prompt now goes by reference (shared.prompt_refs); what is
left that can grow is text a user or a model wrote (a 32,000-character message is 192 KB once JSON
escapes it), which zlib shrinks several times over.

`BoundedMessages` (a publish middleware) encodes the body itself, compresses it above
`COMPRESS_ABOVE_BYTES` (content type `DEFLATED_JSON`), and refuses a command or event still over the
bound with `OversizeMessage` (poison for whoever published it: nothing retries it into the broker).
An RPC answer over the bound is only counted and logged: it goes straight to its caller's channel
through direct reply-to and is never queued. `BoundedCodec` (the brokers' codec) decompresses what it
compressed before FastStream parses it; `RpcClient` does the same for answers.
"""

import json
import logging
import zlib
from typing import Any

from faststream import BaseMiddleware
from faststream._internal.parser import DefaultCodec
from faststream.message.utils import decode_message
from faststream.response.publish_type import PublishType

from shared import metrics
from shared.bounds import MAX_BROKER_MESSAGE_BYTES

log = logging.getLogger(__name__)

COMPRESS_ABOVE_BYTES = 8 * 1024
DEFLATED_JSON = "application/x-deflated-json"  # not "application/json…": nothing parses it unawares
JSON = "application/json"


class OversizeMessage(ValueError):
    """A command or event whose body, compressed, is still over the broker's bound."""


def encode(body: Any) -> tuple[bytes, str]:
    """`body` as the bytes and content type to publish (compressed when big)."""
    from shared.rpc import to_jsonable

    raw = body if isinstance(body, bytes) else json.dumps(to_jsonable(body), separators=(",", ":")).encode()
    if len(raw) > COMPRESS_ABOVE_BYTES:
        return zlib.compress(raw, 6), DEFLATED_JSON
    return raw, JSON


def decoded(body: bytes, content_type: str | None) -> bytes:
    return zlib.decompress(body) if content_type == DEFLATED_JSON else body


class BoundedMessages(BaseMiddleware):
    async def publish_scope(self, call_next, cmd):
        if isinstance(cmd.body, str) or not hasattr(cmd, "message_options"):
            return await call_next(cmd)
        try:
            body, content_type = encode(cmd.body)
        except TypeError:  # not JSON we know how to write: FastStream encodes it as it is
            return await call_next(cmd)
        if len(body) > MAX_BROKER_MESSAGE_BYTES:
            kind = "reply" if cmd.publish_type is PublishType.REPLY else "message"
            metrics.BROKER_OVERSIZE.labels(kind).inc()
            if kind == "message":
                raise OversizeMessage(f"a {len(body)}-byte body for {cmd.destination!r} is over the broker's "
                                      f"{MAX_BROKER_MESSAGE_BYTES}-byte bound")
            log.warning("an RPC answer of %d bytes (compressed) is over the broker's bound", len(body))
        cmd.body = body
        cmd.message_options["content_type"] = content_type
        return await call_next(cmd)


class BoundedCodec(DefaultCodec):
    """Reads what `BoundedMessages` wrote: a compressed body is inflated before it is parsed."""

    async def decode(self, msg):
        if msg.content_type == DEFLATED_JSON:
            msg.body = zlib.decompress(msg.body)
            msg.content_type = JSON
        return decode_message(msg)
