"""The realistic mode: the emulator paced like a real model (`[[reply:words=N delay=S]]` in every
prompt: N chunks, S seconds apart), and for every conversation a reader of its stream. The same
closed loop drives MobixAI (send, then the session's SSE stream until `reply.completed`) and the peer
(one streamed `/v1/chat/completions` request): C conversations for a fixed time, each starting its
next reply once the last one ended. Counted: replies completed per second, each reply's time to its
first token, and, through the CPU meter around it, the CPU per reply of every process involved."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.client import BenchError, Say
from bench.population import BenchUser
from bench.stats import Spread
from bench.ttft import SessionStream, direct_first_chunk_ms, first_token_of_stream

WORDS = 40  # chunks of a reply: "a few dozen"
CHUNK_DELAY_S = 0.012  # like a fast real model


def paced(text: str, words: int = WORDS, delay_s: float = CHUNK_DELAY_S) -> str:
    """A prompt the emulator answers in `words` chunks `delay_s` apart."""
    return f"{text} [[reply:words={words} delay={delay_s:g}]]"


@dataclass
class Conversations:
    """What the closed loop measured: one entry per reply completed inside the window."""

    seconds: float = 0.0
    first_token_ms: list[float] = field(default_factory=list)
    failed: int = 0

    @property
    def replies(self) -> int:
        return len(self.first_token_ms)

    @property
    def per_second(self) -> float:
        return self.replies / self.seconds if self.seconds else 0.0

    @property
    def first_token(self) -> Spread | None:
        return Spread.of(self.first_token_ms) if self.first_token_ms else None


Reply = Callable[[int], Awaitable[float]]  # conversation index -> ms to its first token


async def closed_loop(reply: Reply, conversations: int, seconds: float) -> Conversations:
    result = Conversations()
    started = time.monotonic()
    deadline = started + seconds

    async def converse(index: int) -> None:
        while time.monotonic() < deadline:
            try:
                result.first_token_ms.append(await reply(index))
            except (BenchError, httpx.HTTPError, TimeoutError):
                result.failed += 1

    await asyncio.gather(*(converse(i) for i in range(conversations)))
    result.seconds = time.monotonic() - started
    return result


class PlatformConversations:
    """MobixAI's side: sessions of bench users, each with its SSE stream open."""

    def __init__(self, users: list[BenchUser], conversations: int) -> None:
        pairs = [(u, sid) for u in users for sid in u.sessions]
        if len(pairs) < conversations:
            raise ValueError(f"{conversations} conversations need as many sessions, there are {len(pairs)}")
        self.pairs = pairs[:conversations]
        self.streams = [SessionStream(user.client, sid) for user, sid in self.pairs]

    async def open(self) -> None:
        for stream in self.streams:
            await stream.start()
        await asyncio.sleep(0.3)  # a stream reads from "now": let the gateway attach it before sending

    async def reply(self, index: int) -> float:
        started = time.perf_counter()
        _, first, _ = await self.streams[index].send(paced("Tell me about the sea."))
        return (first - started) * 1000

    async def close(self) -> None:
        for stream in self.streams:
            await stream.close()


class PeerConversations:
    """The peer's side: each reply is one streamed completion through it."""

    def __init__(self, base_url: str, api_key: str, model: str, conversations: int) -> None:
        limits = httpx.Limits(max_connections=conversations + 4, keepalive_expiry=2)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits,
                                      headers={"Authorization": f"Bearer {api_key}"})
        self.model = model

    async def reply(self, _index: int) -> float:
        body = {"model": self.model, "stream": True,
                "messages": [{"role": "user", "content": paced("Tell me about the sea.")}]}
        started = time.perf_counter()
        async with self.http.stream("POST", "/v1/chat/completions", json=body) as response:
            return await first_token_of_stream(response, started)

    async def close(self) -> None:
        await self.http.aclose()


async def peer_ttft(peer_url: str, api_key: str, model: str, emulator_url: str, samples: int,
                    say: Say) -> tuple[list[float], list[float]]:
    """Sequential, unpaced: (through the peer, emulator directly) ms to the first token, paired."""
    through, direct = [], []
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=peer_url, timeout=30, headers=headers) as peer, \
            httpx.AsyncClient(base_url=f"{emulator_url}/api/v1", timeout=30,
                              headers={"Authorization": "Bearer bench"}) as emulator:
        for n in range(samples):
            messages = [{"role": "user", "content": f"Benchmark question number {n}: what is the capital of France?"}]
            direct.append(await direct_first_chunk_ms(emulator, messages))
            started = time.perf_counter()
            async with peer.stream("POST", "/v1/chat/completions",
                                   json={"model": model, "messages": messages, "stream": True}) as response:
                through.append(await first_token_of_stream(response, started))
    say(f"peer time to first token: {len(through)} sequential samples")
    return through, direct
