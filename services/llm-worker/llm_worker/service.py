"""The worker's use cases: stream a reply (deltas to the session's Redis stream, then exactly one
completion or failure on the broker), stop it on request, and name a conversation."""

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from llm_worker.client import ChatRequest, OpenRouterClient, ReplyStream, UpstreamError, to_decimal
from llm_worker.deltas import DeltaStream, ReplyDelta
from llm_worker.prompt import to_openrouter_messages
from llm_worker.settings import WorkerSettings
from llm_worker.stops import StopRegistry
from llm_worker.titles import clean_title, title_messages
from shared import metrics, prompt_refs
from shared.contracts.llm import (
    ChatTurn,
    GenerateReply,
    GenerateTitle,
    ReplyCompleted,
    ReplyFailed,
    TitleGenerated,
    Usage,
)
from shared.media import InvalidMedia, MediaStore, decode_data_url
from shared.prompt_refs import PromptStore
from shared.tokens import count_messages, count_text

log = logging.getLogger(__name__)


class Events(Protocol):
    """Where the worker's events go (the broker in production, a list in unit tests)."""

    async def reply_completed(self, event: ReplyCompleted) -> None: ...
    async def reply_failed(self, event: ReplyFailed) -> None: ...
    async def title_generated(self, event: TitleGenerated) -> None: ...


@dataclass
class _Progress:
    """What one generation has produced so far."""

    text: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    stream: ReplyStream | None = None  # set once the provider started answering
    error: UpstreamError | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def content(self) -> str:
        return "".join(self.text)

    @property
    def usable(self) -> bool:
        return bool(self.content.strip() or self.images)


def _provider_tokens(usage: dict[str, Any] | None) -> tuple[int, int, int] | None:
    if not usage:
        return None
    try:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return (prompt, completion, total) if prompt or completion else None


class Deltas(Protocol):
    """Where a reply's transient text deltas go (the session's Redis stream in production)."""

    async def write(self, delta: ReplyDelta) -> None: ...


@dataclass(eq=False)  # a service, not a value: compared and hashed by identity
class ReplyService:
    client: OpenRouterClient
    media: MediaStore
    events: Events
    stops: StopRegistry
    settings: WorkerSettings
    deltas: Deltas | None = None
    prompts: PromptStore | None = None

    # --- stop ------------------------------------------------------------------------------
    def request_stop(self, exchange_id: UUID) -> bool:
        return self.stops.request(exchange_id)

    # --- reply -----------------------------------------------------------------------------
    async def generate_reply(self, command: GenerateReply, attempt: int = 1) -> None:
        started = time.monotonic()
        metrics.GENERATIONS_IN_PROGRESS.inc()
        try:
            await self._generate_reply(command, attempt)
        finally:
            metrics.GENERATIONS_IN_PROGRESS.dec()
            metrics.GENERATION_SECONDS.observe(time.monotonic() - started)

    async def _generate_reply(self, command: GenerateReply, attempt: int) -> None:
        ids = {"exchange_id": command.exchange_id, "session_id": command.session_id, "user_id": command.user_id}
        if self.stops.stopped_early(command.exchange_id):
            await self.events.reply_completed(ReplyCompleted(
                **ids, model=command.model, content="", usage=Usage(), finish_reason="stopped", stopped=True,
            ))
            return
        turns = await self._turns(command)
        if turns is None:
            # The prompt went by reference and is gone (past chat's reply deadline, or Redis lost it):
            # a clean failure, which frees the session and releases the reservation.
            log.warning("the prompt of exchange %s is no longer available (%s)", command.exchange_id, command.prompt_ref)
            await self.events.reply_failed(ReplyFailed(
                **ids, error="The conversation could not be read for this reply; please send again.",
                code=prompt_refs.UNAVAILABLE,
            ))
            return
        messages = await to_openrouter_messages(turns, self.media)
        request = ChatRequest(
            model=command.model, messages=messages, max_tokens=command.max_tokens,
            fallback_models=command.fallback_models, modalities=command.modalities,
        )
        progress = _Progress()
        deltas = DeltaStream(self._write_delta, attempt=attempt, interval=self.settings.delta_interval_seconds,
                             **ids)
        with self.stops.watch(command.exchange_id) as stop:
            stopped = await self._until_stopped(self._stream(request, progress, deltas), stop)
        # Every delta is in the session's stream before the completion is published: the gateway
        # appends `reply.completed` to the same stream only after chat stored it, so it comes last.
        await deltas.close()

        stream = progress.stream
        model = stream.model if stream else command.model
        generation_id = stream.generation_id if stream else None
        if stopped:
            usage = await self._usage(None, generation_id, messages, progress.content) if stream else Usage()
            await self.events.reply_completed(ReplyCompleted(
                **ids, model=model, content=progress.content, image_urls=await self._store(progress.images),
                usage=usage, generation_id=generation_id, finish_reason="stopped", stopped=True,
            ))
            return
        error = progress.error
        if not progress.usable:
            if error is None:
                error = UpstreamError("the model returned an empty reply", code="empty_reply")
            log.warning("reply for exchange %s failed: %s", command.exchange_id, error)
            await self.events.reply_failed(ReplyFailed(**ids, error=str(error), code=error.code))
            return
        if error is not None:
            # Broken after some text: keep the partial reply (billed as generated), never retry it.
            log.warning("reply for exchange %s broke after %d chars: %s", command.exchange_id,
                        len(progress.content), error)
        usage = await self._usage(stream.usage if stream else None, generation_id, messages, progress.content)
        await self.events.reply_completed(ReplyCompleted(
            **ids, model=model, content=progress.content, image_urls=await self._store(progress.images),
            usage=usage, generation_id=generation_id,
            finish_reason="error" if error is not None else (stream.finish_reason if stream else None),
        ))

    async def _turns(self, command: GenerateReply) -> list[ChatTurn] | None:
        """The prompt: carried by the command, or read from where chat left it (None: gone)."""
        if command.prompt_ref is None:
            return command.messages
        if self.prompts is None:
            return None
        stored = await self.prompts.fetch(command.prompt_ref)
        return None if stored is None else [ChatTurn.model_validate(turn) for turn in stored]

    async def _write_delta(self, delta: ReplyDelta) -> None:
        if self.deltas is not None:
            await self.deltas.write(delta)

    async def _stream(self, request: ChatRequest, progress: _Progress, deltas: DeltaStream) -> None:
        try:
            async with self.client.stream(request) as stream:
                progress.stream = stream
                async for delta in stream:
                    if delta.text:
                        if not progress.text:
                            metrics.FIRST_TOKEN_SECONDS.observe(time.monotonic() - progress.started)
                        progress.text.append(delta.text)
                        deltas.add(delta.text)
                    progress.images.extend(delta.images)
        except UpstreamError as exc:  # StreamBroken too: the caller decides on partial text
            progress.error = exc
            metrics.record_upstream_error(exc.code, exc.status)

    @staticmethod
    async def _until_stopped(work_coro: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
        """Run the generation; True when a stop request cancelled it first."""
        work = asyncio.create_task(work_coro)
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not work.done():
                work.cancel()  # closes the upstream connection, which cancels the generation there
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            return True
        work.result()  # an unexpected bug surfaces to the handler (redelivery)
        return False

    async def _store(self, images: list[str]) -> list[str]:
        urls = []
        for image in images:
            if not image.startswith("data:"):
                urls.append(image)  # already a URL somewhere else
                continue
            try:
                urls.append(await self.media.save(decode_data_url(image)))
            except InvalidMedia as exc:
                log.warning("an image from the provider could not be decoded: %s", exc)
        return urls

    async def _usage(self, provider: dict[str, Any] | None, generation_id: str | None,
                     messages: list[dict[str, Any]], text: str) -> Usage:
        """The provider's figures; else its generation stats; else our own tiktoken count."""
        tokens = _provider_tokens(provider)
        cost = to_decimal(provider.get("cost")) if provider else None
        if tokens and cost is not None:
            return Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1], total_tokens=tokens[2], cost_usd=cost)
        stats = await self.client.generation(generation_id) if generation_id else None
        if stats is not None and (stats.prompt_tokens or stats.completion_tokens):
            return Usage(prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                         total_tokens=stats.prompt_tokens + stats.completion_tokens,
                         cost_usd=stats.cost if stats.cost is not None else cost)
        stats_cost = stats.cost if stats is not None else None
        if tokens:
            return Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1], total_tokens=tokens[2],
                         cost_usd=cost if cost is not None else stats_cost)
        prompt, completion = count_messages(messages), count_text(text)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                     cost_usd=stats_cost, estimated=True)

    # --- title -----------------------------------------------------------------------------
    async def generate_title(self, command: GenerateTitle) -> None:
        fallbacks = [self.settings.title_model] if self.settings.title_model else []
        request = ChatRequest(
            model=command.model, fallback_models=fallbacks, max_tokens=self.settings.title_max_tokens,
            messages=title_messages(command.user_text, command.reply_text),
        )
        base = {"session_id": command.session_id, "user_id": command.user_id, "command_id": command.message_id}
        try:
            completion = await self.client.complete(request)
        except UpstreamError as exc:
            metrics.record_upstream_error(exc.code, exc.status)
            log.warning("title for session %s failed: %s", command.session_id, exc)
            await self.events.title_generated(TitleGenerated(**base, model=command.model, title=None))
            return
        usage = await self._usage(completion.usage, completion.generation_id, request.messages, completion.content)
        await self.events.title_generated(TitleGenerated(
            **base, model=completion.model, title=clean_title(completion.content), usage=usage,
        ))
