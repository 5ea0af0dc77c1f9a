"""Phase 2: time to first token added by the platform. Each sample pairs (POST send → first `reply.delta`
on the session's SSE stream) with (request → first content chunk) calling the emulator directly with
the same conversation; the figure is the per-sample difference."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from bench.client import BenchError, Client, Say
from bench.population import GENERAL_ASSISTANT, BenchUser
from bench.stats import Spread, paired_differences

MODEL = "google/gemini-pro"  # the General Assistant's default (free) model
MAX_TOKENS = 1_024
EVENT_TIMEOUT_S = 60


@dataclass
class TtftResult:
    platform_ms: list[float] = field(default_factory=list)
    direct_ms: list[float] = field(default_factory=list)
    answered_ms: list[float] = field(default_factory=list)  # POST send → its 201, part of platform_ms

    @property
    def added(self) -> Spread | None:
        return Spread.of(paired_differences(self.platform_ms, self.direct_ms)) if self.platform_ms else None

    @property
    def platform(self) -> Spread | None:
        return Spread.of(self.platform_ms) if self.platform_ms else None

    @property
    def direct(self) -> Spread | None:
        return Spread.of(self.direct_ms) if self.direct_ms else None

    @property
    def answered(self) -> Spread | None:
        return Spread.of(self.answered_ms) if self.answered_ms else None


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[float, str, dict]]:
    """(arrival time, event name, data) of each Server-Sent Event."""
    name, data = "", []
    async for line in lines:
        if line == "":
            if name:
                yield time.perf_counter(), name, json.loads("\n".join(data)) if data else {}
            name, data = "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


class SessionStream:
    """A session's SSE stream read in the background into a queue of timestamped events."""

    def __init__(self, client: Client, session_id: int) -> None:
        self.client, self.session_id = client, session_id
        self.events: asyncio.Queue[tuple[float, str, dict]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def _read(self) -> None:
        url = f"/api/chat-sessions/{self.session_id}/stream/"
        async with self.client.http.stream("GET", url, timeout=httpx.Timeout(30, read=None)) as response:
            if response.status_code != 200:
                raise BenchError(f"stream of session {self.session_id}: {response.status_code}")
            self.connected.set()
            async for event in sse_events(response.aiter_lines()):
                await self.events.put(event)

    async def start(self) -> None:
        self.task = asyncio.create_task(self._read())
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait({self.task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not self.connected.is_set():
            waiter.cancel()
            if self.task.done():
                self.task.result()  # raises what went wrong
            raise BenchError(f"stream of session {self.session_id} did not connect")

    async def next(self, *names: str) -> tuple[float, str, dict]:
        while True:
            event = await asyncio.wait_for(self.events.get(), EVENT_TIMEOUT_S)
            if event[1] in names:
                return event

    async def send(self, text: str) -> tuple[float, float, dict]:
        """Send `text` in this session and follow its reply to the end: when the send was answered,
        when the reply's first token came (both `time.perf_counter()`), and the completed reply."""
        response = await self.client.request("POST", f"/api/chat-sessions/{self.session_id}/send/",
                                             json={"message": text})
        answered = time.perf_counter()
        if response.status_code != 201:
            raise BenchError(f"send answered {response.status_code}: {response.text[:300]}")
        first, name, data = await self.next("reply.delta", "reply.failed")
        if name == "reply.delta":
            _, name, data = await self.next("reply.completed", "reply.failed")
        if name == "reply.failed":
            raise BenchError(f"reply failed in session {self.session_id}: {data}")
        return answered, first, data

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def first_token_of_stream(response: httpx.Response, started: float) -> float:
    """Reads an OpenAI-style SSE body to its end; ms from `started` to the first content chunk."""
    if response.status_code != 200:
        raise BenchError(f"streamed completion answered {response.status_code}: {(await response.aread())[:200]!r}")
    first = None
    async for line in response.aiter_lines():
        if first is None and line.startswith("data:") and line[5:].strip() != "[DONE]":
            choices = json.loads(line[5:]).get("choices") or [{}]
            if (choices[0].get("delta") or {}).get("content"):
                first = time.perf_counter()
    if first is None:
        raise BenchError("the stream carried no content")
    return (first - started) * 1000


async def direct_first_chunk_ms(emulator: httpx.AsyncClient, messages: list[dict]) -> float:
    body = {"model": MODEL, "messages": messages, "stream": True, "usage": {"include": True}, "max_tokens": MAX_TOKENS}
    started = time.perf_counter()
    async with emulator.stream("POST", "/chat/completions", json=body) as response:
        return await first_token_of_stream(response, started)


async def run_ttft(user: BenchUser, emulator_url: str, seconds: float, max_samples: int, say: Say) -> TtftResult:
    chatbot = await user.client.expect("GET", f"/api/chatbots/{GENERAL_ASSISTANT}/", 200)
    history = {sid: [{"role": "system", "content": chatbot["system_prompt"]}] for sid in user.sessions}
    streams = [SessionStream(user.client, sid) for sid in user.sessions]
    result = TtftResult()
    emulator = httpx.AsyncClient(base_url=f"{emulator_url}/api/v1", timeout=30,
                                 headers={"Authorization": "Bearer bench"})
    try:
        for stream in streams:
            await stream.start()
        await asyncio.sleep(0.3)  # a stream reads from "now": let the gateway attach it before sending
        say(f"time to first token: sequential sends over {len(streams)} sessions for {seconds:.0f} s")
        deadline = time.monotonic() + seconds
        n = 0
        while n < max_samples and (time.monotonic() < deadline or n < 5):
            stream = streams[n % len(streams)]
            text = f"Benchmark question number {n}: what is the capital of France?"
            turns = [*history[stream.session_id], {"role": "user", "content": text}]
            direct = await direct_first_chunk_ms(emulator, turns)
            started = time.perf_counter()
            answered, first, data = await stream.send(text)
            result.direct_ms.append(direct)
            result.platform_ms.append((first - started) * 1000)
            result.answered_ms.append((answered - started) * 1000)
            history[stream.session_id] = [*turns, {"role": "assistant", "content": data["content"]}]
            n += 1
    finally:
        await emulator.aclose()
        for stream in streams:
            await stream.close()
    return result
