"""The OpenRouter client: streamed and plain chat completions and generation stats, over one
httpx pool, retrying transient failures only before the first token."""

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_any

from llm_worker.settings import WorkerSettings
from llm_worker.sse import iter_sse_data
from shared import metrics

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """OpenRouter (or the way to it) failed; `code` is what ReplyFailed reports."""

    def __init__(self, message: str, *, code: str = "upstream_error", status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class StreamBroken(UpstreamError):
    """The stream failed after its first token. Never retried: the text so far is the caller's."""


def is_retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


def _code_for(status: int) -> str:
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth_error"
    if status == 402:
        return "payment_required"
    if status >= 500:
        return "upstream_unavailable"
    return "bad_request"


def _retry_after(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:  # the HTTP-date form
        moment = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _error_message(body: bytes, default: str) -> str:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        error = json.loads(body).get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return default


def error_from_response(status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
    message = _error_message(body, f"HTTP {status}")
    return UpstreamError(f"OpenRouter answered {status}: {message}", code=_code_for(status), status=status,
                         retryable=is_retryable_status(status), retry_after=_retry_after(headers))


def error_from_chunk(error: Any) -> UpstreamError:
    """An `{"error": {...}}` object sent inside a 200 stream or body."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    raw_code = error.get("code")
    status = raw_code if isinstance(raw_code, int) else None
    return UpstreamError(f"OpenRouter stream error: {error.get('message') or 'unknown error'}",
                         code="stream_error", status=status,
                         retryable=status is None or is_retryable_status(status))


def to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    fallback_models: list[str] = field(default_factory=list)
    modalities: list[str] | None = None

    def body(self, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": stream,
            "usage": {"include": True},
        }
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        chain = list(dict.fromkeys([self.model, *self.fallback_models]))
        if len(chain) > 1:
            body["models"] = chain  # OpenRouter tries them in order; `model` reports who answered
        if self.modalities:
            body["modalities"] = self.modalities
        return body


@dataclass
class Delta:
    text: str = ""
    images: list[str] = field(default_factory=list)  # data URLs


@dataclass
class Completion:
    content: str
    model: str
    images: list[str] = field(default_factory=list)
    generation_id: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None


@dataclass
class GenerationStats:
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal | None
    model: str | None


def _images_of(holder: dict[str, Any]) -> list[str]:
    urls = []
    for image in holder.get("images") or []:
        url = (image.get("image_url") or {}).get("url") if isinstance(image, dict) else None
        if isinstance(url, str) and url:
            urls.append(url)
    return urls


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


DRAIN_SECONDS = 1.0  # after `[DONE]`, how long the rest of a response body may take to arrive


class ReplyStream:
    """An open streamed completion. Iterate it for deltas; then read `usage`, `finish_reason`,
    `model` (the one that answered) and `generation_id`."""

    def __init__(self, response: httpx.Response, model: str, deadline: float, reply_timeout: float) -> None:
        self._response = response
        self._events = iter_sse_data(response.aiter_lines())
        self._pending: deque[Delta] = deque()
        self._deadline = deadline
        self._reply_timeout = reply_timeout
        self.model = model
        self.generation_id: str | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.attempts = 1

    async def prime(self) -> None:
        """Read up to the first content (or the end), so a failure before it can still be retried."""
        first = await self._next_delta()
        if first is not None:
            self._pending.append(first)

    async def _next_delta(self) -> Delta | None:
        """The next content delta, or None at `[DONE]`. Raises UpstreamError."""
        while True:
            try:
                payload = await anext(self._events)
            except StopAsyncIteration:
                if self.finish_reason is None:
                    raise UpstreamError("the stream ended without finishing", code="stream_error",
                                        retryable=True) from None
                self.done = True  # finished, only the [DONE] line is missing
                return None
            except httpx.TimeoutException as exc:
                raise UpstreamError(f"the stream stalled: {exc!r}", code="timeout", retryable=True) from exc
            except httpx.TransportError as exc:
                raise UpstreamError(f"the stream broke: {exc!r}", code="stream_error", retryable=True) from exc
            if payload.strip() == "[DONE]":
                self.done = True
                return None
            try:
                chunk = json.loads(payload)
            except ValueError:
                log.warning("ignoring a malformed stream chunk: %.200s", payload)
                continue
            if not isinstance(chunk, dict):
                continue
            self.generation_id = chunk.get("id") or self.generation_id
            self.model = chunk.get("model") or self.model
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            if chunk.get("error"):
                raise error_from_chunk(chunk["error"])
            choices = chunk.get("choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                continue
            choice = choices[0]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                if self.finish_reason == "error":
                    raise UpstreamError("the provider ended the stream with an error", code="stream_error",
                                        retryable=True)
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            text, images = _text_of(delta.get("content")), _images_of(delta)
            if text or images:
                return Delta(text, images)

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Delta]:
        while self._pending:
            yield self._pending.popleft()
        while not self.done:
            try:
                async with asyncio.timeout_at(self._deadline):
                    delta = await self._next_delta()
            except TimeoutError as exc:
                raise StreamBroken(f"the reply took longer than {self._reply_timeout:g}s", code="timeout") from exc
            except UpstreamError as exc:
                raise StreamBroken(str(exc), code=exc.code, status=exc.status) from exc
            if delta is None:
                return
            yield delta

    async def aclose(self) -> None:
        """Give the connection back: a finished stream is read to its end (the `[DONE]` line is not
        the end of the HTTP body), so the pool keeps the connection for the next reply instead of a
        new TCP and TLS handshake each time; mid-stream, closing it cancels the generation upstream."""
        if self.done:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(DRAIN_SECONDS):
                    async for _ in self._events:
                        pass
        with contextlib.suppress(Exception):
            await self._events.aclose()
        await self._response.aclose()


Sleep = Callable[[float], Awaitable[None]]


class OpenRouterClient:
    def __init__(self, settings: WorkerSettings, *, http: httpx.AsyncClient | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self._sleep = sleep
        self._http = http or httpx.AsyncClient(
            base_url=settings.base_url + "/",
            headers=self._headers(settings),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_seconds,
                read=settings.first_token_timeout_seconds,  # also the longest silence mid-stream
                write=30.0,
                pool=30.0,
            ),
            limits=httpx.Limits(max_connections=settings.max_connections,
                                max_keepalive_connections=settings.max_connections),
        )

    @staticmethod
    def _headers(settings: WorkerSettings) -> dict[str, str]:
        # The emulator only checks that a bearer key is present.
        headers = {"Authorization": f"Bearer {settings.openrouter_api_key or 'local-emulator'}"}
        if settings.openrouter_referer:
            headers["HTTP-Referer"] = settings.openrouter_referer
        if settings.openrouter_title:
            headers["X-Title"] = settings.openrouter_title
        return headers

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- retries ---------------------------------------------------------------------------
    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, UpstreamError) or isinstance(exc, StreamBroken) or not exc.retryable:
            return False
        # Retrying earlier than the server asked is pointless; a long Retry-After fails now.
        return exc.retry_after is None or exc.retry_after <= self.settings.retry_after_max_seconds

    def _retrying(self, deadline: float) -> AsyncRetrying:
        s = self.settings
        loop = asyncio.get_running_loop()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, UpstreamError) and exc.retry_after is not None:
                pause = exc.retry_after
            else:  # capped exponential back-off with full jitter on top of the base
                base = s.backoff_initial_seconds * 2 ** (state.attempt_number - 1)
                pause = min(base + random.uniform(0, s.backoff_initial_seconds), s.backoff_max_seconds)
            return max(0.0, min(pause, deadline - loop.time()))

        def past_deadline(state: RetryCallState) -> bool:
            return loop.time() >= deadline

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, UpstreamError):  # the last attempt's error is counted by its caller
                metrics.record_upstream_error(exc.code, exc.status)
            log.warning("OpenRouter attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc,
                        state.upcoming_sleep)

        return AsyncRetrying(
            stop=stop_any(stop_after_attempt(s.max_attempts), past_deadline),
            wait=wait,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
            sleep=self._sleep,
            before_sleep=log_retry,
        )

    # --- streaming -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def stream(self, request: ChatRequest) -> AsyncIterator[ReplyStream]:
        """Open a streamed completion, retrying until its first token; closes it on exit."""
        deadline = asyncio.get_running_loop().time() + self.settings.reply_timeout_seconds
        stream: ReplyStream | None = None
        async for attempt in self._retrying(deadline):
            with attempt:
                stream = await self._open_stream(request, deadline)
                stream.attempts = attempt.retry_state.attempt_number
        assert stream is not None
        try:
            yield stream
        finally:
            await stream.aclose()

    async def _open_stream(self, request: ChatRequest, deadline: float) -> ReplyStream:
        loop = asyncio.get_running_loop()
        first_token_by = min(deadline, loop.time() + self.settings.first_token_timeout_seconds)
        response: httpx.Response | None = None
        opened = False
        try:
            async with asyncio.timeout_at(first_token_by):
                response = await self._http.send(
                    self._http.build_request("POST", "chat/completions", json=request.body(stream=True)),
                    stream=True,
                )
                if response.status_code != 200:
                    raise error_from_response(response.status_code, await response.aread(), response.headers)
                stream = ReplyStream(response, request.model, deadline, self.settings.reply_timeout_seconds)
                await stream.prime()
                opened = True
                return stream
        except TimeoutError as exc:
            raise UpstreamError(f"no first token within {self.settings.first_token_timeout_seconds:g}s",
                                code="timeout", retryable=True) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"OpenRouter timed out: {exc!r}", code="timeout", retryable=True) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(f"cannot reach OpenRouter: {exc!r}", code="upstream_unavailable",
                                retryable=True) from exc
        finally:
            if response is not None and not opened:
                await response.aclose()

    # --- one-shot --------------------------------------------------------------------------
    async def complete(self, request: ChatRequest) -> Completion:
        """A non-streamed completion (titles), with the same retries."""
        deadline = asyncio.get_running_loop().time() + self.settings.reply_timeout_seconds
        async for attempt in self._retrying(deadline):
            with attempt:
                return await self._complete_once(request, deadline)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _complete_once(self, request: ChatRequest, deadline: float) -> Completion:
        timeout = httpx.Timeout(self.settings.reply_timeout_seconds, connect=self.settings.connect_timeout_seconds)
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._http.post("chat/completions", json=request.body(stream=False),
                                                 timeout=timeout)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamError("OpenRouter did not answer in time", code="timeout", retryable=True) from exc
        except httpx.TransportError as exc:
            raise UpstreamError(f"cannot reach OpenRouter: {exc!r}", code="upstream_unavailable",
                                retryable=True) from exc
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, response.headers)
        try:
            data = response.json()
        except ValueError as exc:
            raise UpstreamError("OpenRouter sent malformed JSON", retryable=True) from exc
        if not isinstance(data, dict):
            raise UpstreamError("OpenRouter sent an unexpected body", retryable=True)
        if data.get("error"):
            raise error_from_chunk(data["error"])
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        return Completion(
            content=_text_of(message.get("content")),
            images=_images_of(message),
            model=data.get("model") or request.model,
            generation_id=data.get("id"),
            finish_reason=choice.get("finish_reason"),
            usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
        )

    # --- generation stats ------------------------------------------------------------------
    async def generation(self, generation_id: str) -> GenerationStats | None:
        """Tokens and cost of a past generation; they can lag the stream, so 404 is retried."""
        pause = self.settings.generation_lookup_delay_seconds
        for attempt in range(1, self.settings.generation_lookup_attempts + 1):
            status = None
            try:
                response = await self._http.get("generation", params={"id": generation_id})
                status = response.status_code
                if status == 200:
                    return self._parse_generation(response)
            except (httpx.HTTPError, ValueError) as exc:
                log.debug("generation lookup %s failed: %r", generation_id, exc)
            if status is not None and status != 404 and not is_retryable_status(status):
                return None
            if attempt < self.settings.generation_lookup_attempts:
                await self._sleep(pause)
                pause *= 2
        log.warning("no generation stats for %s", generation_id)
        return None

    @staticmethod
    def _parse_generation(response: httpx.Response) -> GenerationStats | None:
        data = response.json().get("data")
        if not isinstance(data, dict):
            return None
        prompt = data.get("tokens_prompt") or data.get("native_tokens_prompt") or 0
        completion = data.get("tokens_completion") or data.get("native_tokens_completion") or 0
        return GenerationStats(int(prompt), int(completion), to_decimal(data.get("total_cost")), data.get("model"))
