"""The emulator's HTTP app: OpenRouter's chat, generation and model routes plus a test admin API."""

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from openrouter_emulator import directives
from openrouter_emulator.directives import Directives, Fault, parse_fault
from openrouter_emulator.png import make_png
from openrouter_emulator.replies import Reply, build_reply, last_user_text, reply_words
from openrouter_emulator.settings import EmulatorSettings
from openrouter_emulator.state import EmulatorState, Generation
from shared.tokens import count_messages, count_text

# (slug, name, context length, the top provider's reply cap, output modalities), as GET /models lists them.
MODELS = (
    ("openai/gpt-4-turbo", "OpenAI: GPT-4 Turbo", 128_000, 4_096, ["text"]),
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128_000, 16_384, ["text"]),
    ("anthropic/claude-3-opus", "Anthropic: Claude 3 Opus", 200_000, 4_096, ["text"]),
    ("google/gemini-pro", "Google: Gemini Pro", 32_000, 8_192, ["text"]),
    ("google/gemini-2.5-flash-image-preview", "Google: Gemini 2.5 Flash Image", 32_000, 8_192, ["image", "text"]),
    ("meta-llama/llama-3.1-70b-instruct", "Meta: Llama 3.1 70B Instruct", 131_072, 2_048, ["text"]),
)
PROCESSING = ": OPENROUTER PROCESSING\n\n"
MAX_WORDS = 5000


class StreamCut(Exception):
    """Raised inside a stream to drop the connection mid-body (`cut_after`)."""


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


class FaultsIn(BaseModel):
    faults: list[str | list[str]]


def error_response(status: int, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    body = {"error": {"code": status, "message": message, "metadata": {"provider_name": "Emulator"}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _authorized(request: Request) -> bool:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(key.strip())


class Completion:
    """One accepted chat request: what to answer and which faults to play."""

    def __init__(self, settings: EmulatorSettings, state: EmulatorState, body: dict, model: str,
                 found: Directives) -> None:
        self.settings = settings
        self.state = state
        self.model = model
        self.faults = found
        messages = body["messages"]
        words = _int(found.reply.get("words"), settings.reply_words)
        self.delay = max(0.0, min(_float(found.reply.get("delay"), settings.chunk_delay_seconds), 10.0))
        self.reply: Reply = build_reply(reply_words(messages, max(1, min(words, MAX_WORDS))), body.get("max_tokens"))
        modalities = body.get("modalities") or []
        self.image = make_png(last_user_text(messages)) if "image" in modalities else None
        self.prompt_tokens = count_messages(messages)
        usage = body.get("usage")
        options = body.get("stream_options")
        self.include_usage = (isinstance(usage, dict) and usage.get("include") is True) or (
            isinstance(options, dict) and options.get("include_usage") is True
        )
        self.id = f"gen-{int(time.time())}-{secrets.token_hex(10)}"
        self.created = int(time.time())
        self._recorded = False
        slow = found.get("slow_first_token")
        self.first_token_delay = settings.first_token_delay_seconds + (slow.number(default=0) if slow else 0)

    # --- figures ---------------------------------------------------------------------------
    def usage(self, completion_text: str) -> dict[str, Any]:
        completion = count_text(completion_text)
        total = self.prompt_tokens + completion
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": total,
            "cost": float(self.cost(total)),
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        if self.faults.get("no_cost"):
            del usage["cost"]
        return usage

    def cost(self, tokens: int) -> Decimal:
        return self.settings.price_per_token_usd * tokens

    def record(self, completion_text: str, *, streamed: bool, finish_reason: str | None,
               cancelled: bool = False) -> None:
        """Remember the generation once, before the client can ask for it."""
        if self._recorded:
            return
        self._recorded = True
        completion = count_text(completion_text)
        no_usage = self.faults.get("no_usage")
        self.state.remember(Generation(
            id=self.id, model=self.model, tokens_prompt=self.prompt_tokens, tokens_completion=completion,
            total_cost=self.cost(self.prompt_tokens + completion), streamed=streamed,
            finish_reason=finish_reason, cancelled=cancelled,
            lookups_to_fail=int(no_usage.number("lag", 0)) if no_usage else 0,
        ))

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "provider": "Emulator", "model": self.model,
            "object": "chat.completion.chunk", "created": self.created,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                         "native_finish_reason": finish_reason, "logprobs": None}],
        }

    def _images(self) -> list[dict[str, Any]]:
        if self.image is None:
            return []
        url = "data:image/png;base64," + base64.b64encode(self.image).decode()
        return [{"type": "image_url", "image_url": {"url": url}}]

    def _fault_index(self, kind: str, default: int | None = None) -> int | None:
        fault = self.faults.get(kind)
        if fault is None:
            return None
        at = fault.number("after", default) if kind == "error_chunk" else fault.number(default=default or 0)
        return max(0, int(at))

    # --- answers ---------------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[str]:
        stats = self.state.stats
        stats.streams_started += 1
        stats.streams_active += 1
        stats.streams_active_peak = max(stats.streams_active_peak, stats.streams_active)
        cut = self._fault_index("cut_after")
        stall = self._fault_index("stall_after")
        error_at = self._fault_index("error_chunk", 2)
        sent: list[str] = []
        try:
            yield PROCESSING
            remaining = self.first_token_delay
            while remaining > 0:  # a slow provider: keep-alive comments until the first token
                step = min(remaining, 0.5)
                await asyncio.sleep(step)
                remaining -= step
                if remaining > 0:
                    yield PROCESSING
            for i in range(len(self.reply.chunks) + 1):
                if cut is not None and i >= cut:
                    stats.streams_cut += 1
                    self.record("".join(sent), streamed=True, finish_reason="error")
                    raise StreamCut(f"cut after {i} chunks")
                if stall is not None and i >= stall:
                    await asyncio.sleep(3600)
                if error_at is not None and i >= error_at:
                    self.record("".join(sent), streamed=True, finish_reason="error")
                    yield _sse(self._error_chunk())
                    return
                if i == len(self.reply.chunks):
                    break
                if i:
                    await asyncio.sleep(self.delay)
                piece = self.reply.chunks[i]
                yield _sse(self._chunk({"role": "assistant", "content": piece}))
                sent.append(piece)
            if self.image is not None:
                yield _sse(self._chunk({"role": "assistant", "content": "", "images": self._images()}))
            text = "".join(sent)
            self.record(text, streamed=True, finish_reason=self.reply.finish_reason)
            yield _sse(self._chunk({"role": "assistant", "content": ""}, self.reply.finish_reason))
            if self.include_usage and not self.faults.get("no_usage"):
                yield _sse({**self._chunk({}), "choices": [], "usage": self.usage(text)})
            yield "data: [DONE]\n\n"
            stats.streams_completed += 1
        except (asyncio.CancelledError, GeneratorExit):
            stats.streams_disconnected += 1
            self.record("".join(sent), streamed=True, finish_reason=None, cancelled=True)
            raise
        finally:
            stats.streams_active -= 1

    def _error_chunk(self) -> dict[str, Any]:
        fault = self.faults.get("error_chunk")
        code = int(fault.number("code", 502)) if fault else 502
        message = (fault.params.get("message") if fault else None) or "Provider returned error"
        chunk = self._chunk({"content": ""}, "error")
        chunk["error"] = {"code": code, "message": message, "metadata": {"provider_name": "Emulator"}}
        return chunk

    async def answer(self) -> Response:
        """The non-streaming answer: the whole reply after the time streaming it would take."""
        await asyncio.sleep(self.first_token_delay + self.delay * max(len(self.reply.chunks) - 1, 0))
        if self.faults.get("stall_after") is not None:
            await asyncio.sleep(3600)
        if self.faults.get("cut_after") is not None or self.faults.get("error_chunk") is not None:
            self.record("", streamed=False, finish_reason="error")
            return error_response(502, "Provider returned error")
        text = self.reply.text
        self.record(text, streamed=False, finish_reason=self.reply.finish_reason)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self.image is not None:
            message["images"] = self._images()
        body: dict[str, Any] = {
            "id": self.id, "provider": "Emulator", "model": self.model, "object": "chat.completion",
            "created": self.created,
            "choices": [{"index": 0, "message": message, "finish_reason": self.reply.finish_reason,
                         "native_finish_reason": self.reply.finish_reason, "logprobs": None}],
        }
        if not self.faults.get("no_usage"):
            body["usage"] = self.usage(text)
        return JSONResponse(body)


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def _float(raw: str | None, default: float) -> float:
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


def _validate(body: Any) -> str | None:
    """The reason a chat request is malformed, or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "messages must be a non-empty array of objects"
    if any(not isinstance(m.get("role"), str) for m in messages):
        return "every message needs a role"
    model, models = body.get("model"), body.get("models")
    if model is not None and not isinstance(model, str):
        return "model must be a string"
    if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
        return "models must be an array of strings"
    if not model and not models:
        return "model is required"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return "max_tokens must be a positive integer"
    modalities = body.get("modalities")
    if modalities is not None and not isinstance(modalities, list):
        return "modalities must be an array"
    return None


def create_app(settings: EmulatorSettings) -> FastAPI:
    state = EmulatorState(settings.generation_memory)
    app = FastAPI(title="OpenRouter emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_QuietCuts())  # a deliberate cut is not a server error

    @app.post("/api/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        state.stats.requests += 1
        if request.client is not None:
            state.stats.client_connections.add(f"{request.client.host}:{request.client.port}")
        response = await _chat(request)
        state.stats.by_status[response.status_code] += 1
        return response

    async def _chat(request: Request) -> Response:
        if not _authorized(request):
            return error_response(401, "No auth credentials found")
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "Request body is not valid JSON")
        problem = _validate(body)
        if problem:
            return error_response(400, problem)
        state.stats.last_headers = {
            k: v for k, v in request.headers.items() if k.lower() not in {"authorization", "cookie"}
        }
        state.stats.last_body = body
        found = directives.parse(last_user_text(body["messages"]))
        found.faults.extend(state.next_queued_faults())

        if (fault := found.http_status()) is not None:
            status = _int(fault.kind.removeprefix("http_"), 500)
            status = status if 400 <= status <= 599 else 500
            retry_after = fault.number("retry_after", -1)
            return error_response(status, f"Injected HTTP {status}", retry_after if retry_after >= 0 else None)
        if (fault := found.get("fail_times")) is not None:
            key = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
            state.fail_counts[key] += 1
            if state.fail_counts[key] <= fault.number(default=1):
                status = int(fault.number("status", 503))
                retry_after = fault.number("retry_after", -1)
                return error_response(status if 400 <= status <= 599 else 503, "Injected transient failure",
                                      retry_after if retry_after >= 0 else None)

        chain = list(body.get("models") or [])
        if body.get("model") and body["model"] not in chain:
            chain.insert(0, body["model"])
        model = next((m for m in chain if "unavailable" not in m.lower()), None)
        if model is None:
            return error_response(503, f"No available provider for {', '.join(chain)}")
        state.stats.by_model[model] += 1

        completion = Completion(settings, state, body, model, found)
        if body.get("stream") is True:
            return StreamingResponse(
                completion.stream(), media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await completion.answer()

    @app.get("/api/v1/generation")
    async def generation(request: Request, id: str | None = None) -> Response:
        if not _authorized(request):
            return error_response(401, "No auth credentials found")
        if not id:
            return error_response(400, "id is required")
        found = state.lookup(id)
        if found is None:
            return error_response(404, f"Generation {id} not found")
        return JSONResponse({"data": found.to_json()})

    @app.get("/api/v1/models")
    async def models() -> Response:
        # OpenRouter's shape: prices are USD per token, as strings. A queued `http_<status>` fault
        # (POST /_emulator/faults) answers this route too, so a failing provider can be shown.
        for fault in state.next_queued_faults():
            if fault.kind.startswith("http_"):
                status = _int(fault.kind.removeprefix("http_"), 500)
                return error_response(status if 400 <= status <= 599 else 500, f"Injected HTTP {status}")
        price = str(settings.price_per_token_usd)
        return JSONResponse({"data": [
            {"id": slug, "name": name, "context_length": context,
             "pricing": {"prompt": price, "completion": price, "request": "0", "image": "0"},
             "top_provider": {"context_length": context, "max_completion_tokens": cap, "is_moderated": False},
             "architecture": {"input_modalities": ["text", "image"], "output_modalities": outputs}}
            for slug, name, context, cap, outputs in MODELS
        ]})

    @app.post("/_emulator/faults")
    async def queue_faults(payload: FaultsIn) -> dict[str, Any]:
        for entry in payload.faults:
            texts = [entry] if isinstance(entry, str) else entry
            faults: list[Fault] = [f for f in map(parse_fault, texts) if f is not None]
            state.queued_faults.append(faults)
        return {"queued": len(state.queued_faults)}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict[str, Any]:
        state.clear_faults()
        return {"queued": 0}

    @app.get("/_emulator/stats")
    async def stats() -> dict[str, Any]:
        return state.stats.to_json()

    @app.delete("/_emulator/stats")
    async def reset_stats() -> dict[str, Any]:
        state.reset_stats()
        return state.stats.to_json()

    return app
