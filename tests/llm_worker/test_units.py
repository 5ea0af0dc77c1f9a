"""Unit tests of the worker's small parts: SSE parsing, titles, stops, delta batching, usage rules,
prompt images and media storage."""

import asyncio
import base64
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llm_worker.client import GenerationStats, OpenRouterClient
from llm_worker.deltas import DeltaStream, ReplyDelta
from llm_worker.prompt import to_openrouter_messages
from llm_worker.service import ReplyService
from llm_worker.settings import EMULATOR_BASE_URL, OPENROUTER_BASE_URL, WorkerSettings
from llm_worker.sse import iter_sse_data
from llm_worker.stops import StopRegistry
from llm_worker.titles import MAX_CHARS, clean_title

from shared.contracts.llm import ChatTurn
from shared.media import InvalidMedia, LocalMediaStore, MediaBlob, decode_data_url
from shared.tokens import count_messages, count_text

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def _lines(*lines: str):
    for line in lines:
        yield line


async def _data(*lines: str) -> list[str]:
    return [d async for d in iter_sse_data(_lines(*lines))]


async def test_sse_skips_comments_and_joins_multiline_data():
    assert await _data(
        ": OPENROUTER PROCESSING", "", "data: {\"a\": 1}", "", "event: x", "data:one", "data: two", "",
        ": keep-alive", "data: [DONE]",
    ) == ['{"a": 1}', "one\ntwo", "[DONE]"]


async def test_sse_ignores_blank_runs_and_unknown_fields():
    assert await _data("", "", "id: 7", "retry: 100", "", "data: x", "", "") == ["x"]


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ('"Planning a trip to"', "Planning a trip to"),
        ("Title: “Quantum computing basics”.", "Quantum computing basics"),
        ("«سفر به اصفهان در بهار»", "سفر به اصفهان در بهار"),
        ("One two three four five six seven", "One two three four five"),
        ("\n\n  'Don't panic'  \nsecond line", "Don't panic"),
        ('""', None),
        ("   ", None),
    ],
)
def test_clean_title(raw, title):
    assert clean_title(raw) == title


@given(st.text())
def test_clean_title_always_fits(raw):
    title = clean_title(raw)
    assert title is None or (0 < len(title) <= MAX_CHARS and len(title.split()) <= 5 and '"' not in title)


async def test_stop_signals_a_live_generation():
    stops = StopRegistry()
    exchange = uuid.uuid4()
    with stops.watch(exchange) as event:
        assert stops.request(exchange) is True
        assert event.is_set()
    assert stops.live_count == 0
    assert stops.stopped_early(exchange) is False


def test_early_stop_is_remembered_for_a_while():
    now = [0.0]
    stops = StopRegistry(remember_seconds=60, capacity=2, clock=lambda: now[0])
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for exchange in (a, b, c):
        assert stops.request(exchange) is False
    assert stops.stopped_early(a) is False  # the oldest was forgotten (capacity 2)
    assert stops.stopped_early(b) is True
    assert stops.stopped_early(b) is False  # consumed
    now[0] = 61
    assert stops.stopped_early(c) is False  # expired


async def test_deltas_are_ordered_and_batched_while_a_write_is_in_flight():
    published: list[ReplyDelta] = []
    gate = asyncio.Event()

    async def slow_publish(event: ReplyDelta) -> None:
        await gate.wait()
        published.append(event)

    stream = DeltaStream(slow_publish, exchange_id=uuid.uuid4(), session_id=1, user_id=2, attempt=3, interval=0)
    pieces = [f"w{i} " for i in range(20)]
    for piece in pieces:
        stream.add(piece)
        await asyncio.sleep(0)
    gate.set()
    await stream.close()
    assert "".join(e.delta for e in published) == "".join(pieces)
    assert [e.seq for e in published] == list(range(len(published)))
    assert len(published) == 2  # the first piece alone, then everything that queued behind it
    assert {e.attempt for e in published} == {3}


async def test_deltas_are_coalesced_over_the_interval_and_close_flushes_at_once():
    written: list[ReplyDelta] = []

    async def write(event: ReplyDelta) -> None:
        written.append(event)

    # An interval far longer than the test: only close() can end the pause after the first write.
    stream = DeltaStream(write, exchange_id=uuid.uuid4(), session_id=1, user_id=2, attempt=1, interval=3600)
    stream.add("first ")
    await asyncio.sleep(0)
    assert [e.delta for e in written] == ["first "]  # the first delta goes out at once
    for i in range(10):
        stream.add(f"w{i} ")
        await asyncio.sleep(0)
    assert len(written) == 1  # the rest waits for the interval…
    await asyncio.wait_for(stream.close(), 5)  # …or for close(), which does not wait it out
    assert [e.delta for e in written] == ["first ", "".join(f"w{i} " for i in range(10))]
    assert [e.seq for e in written] == [0, 1]


async def test_a_failing_delta_write_does_not_stop_the_rest():
    published: list[str] = []

    async def flaky(event: ReplyDelta) -> None:
        if event.seq == 0:
            raise ConnectionError("broker hiccup")
        published.append(event.delta)

    stream = DeltaStream(flaky, exchange_id=uuid.uuid4(), session_id=1, user_id=2, attempt=1, interval=0)
    stream.add("lost ")
    await asyncio.sleep(0)
    stream.add("kept")
    await stream.close()
    assert published == ["kept"]


class FakeStatsClient(OpenRouterClient):
    """The real client with generation stats answered from a dict."""

    def __init__(self, stats: dict[str, GenerationStats]) -> None:
        super().__init__(WorkerSettings())
        self.stats = stats
        self.lookups: list[str] = []

    async def generation(self, generation_id: str) -> GenerationStats | None:
        self.lookups.append(generation_id)
        return self.stats.get(generation_id)


@pytest.fixture
async def usage_service():
    client = FakeStatsClient({"gen-1": GenerationStats(100, 20, Decimal("0.0003"), "m")})
    yield ReplyService(client, LocalMediaStore("/nonexistent"), events=None, stops=StopRegistry(),
                       settings=client.settings)
    await client.aclose()


MESSAGES = [{"role": "user", "content": "hello there"}]


async def test_usage_from_the_provider_when_complete(usage_service):
    usage = await usage_service._usage({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, "cost": 0.5},
                                       "gen-1", MESSAGES, "x")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cost_usd, usage.estimated) == (5, 7, Decimal("0.5"), False)
    assert usage_service.client.lookups == []


async def test_usage_without_cost_is_looked_up(usage_service):
    usage = await usage_service._usage({"prompt_tokens": 5, "completion_tokens": 7}, "gen-1", MESSAGES, "x")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 20, 120)
    assert usage.cost_usd == Decimal("0.0003") and usage.estimated is False


async def test_usage_keeps_provider_tokens_when_stats_are_missing(usage_service):
    usage = await usage_service._usage({"prompt_tokens": 5, "completion_tokens": 7}, "gen-2", MESSAGES, "x")
    assert (usage.total_tokens, usage.cost_usd, usage.estimated) == (12, None, False)


async def test_usage_is_estimated_with_tiktoken_as_a_last_resort(usage_service):
    usage = await usage_service._usage(None, None, MESSAGES, "a reply of several words")
    assert usage.estimated is True and usage.cost_usd is None
    assert usage.prompt_tokens == count_messages(MESSAGES)
    assert usage.completion_tokens == count_text("a reply of several words")


async def test_prompt_inlines_our_images_and_keeps_others(tmp_path):
    media = LocalMediaStore(tmp_path, "/media/")
    ours = await media.save(MediaBlob("image/png", PNG))
    turns = [
        ChatTurn(role="system", content="sys"),
        ChatTurn(role="user", content="change it",
                 image_urls=[ours, "https://cdn.example/x.png", "/media/generated/missing.png", "ftp://odd"]),
    ]
    messages = await to_openrouter_messages(turns, media)
    assert messages[0] == {"role": "system", "content": "sys"}
    parts = messages[1]["content"]
    assert parts[0] == {"type": "text", "text": "change it"}
    urls = [p["image_url"]["url"] for p in parts[1:]]
    assert urls == ["data:image/png;base64," + base64.b64encode(PNG).decode(), "https://cdn.example/x.png"]


async def test_media_store_round_trip(tmp_path):
    media = LocalMediaStore(tmp_path, "/media")
    url = await media.save(decode_data_url("data:image/png;base64," + base64.b64encode(PNG).decode()))
    assert url.startswith("/media/generated/") and url.endswith(".png")
    assert (tmp_path / url.removeprefix("/media/")).read_bytes() == PNG
    assert (await media.load(url)) == MediaBlob("image/png", PNG)
    assert url != await media.save(MediaBlob("image/png", PNG))  # every save gets a fresh name


async def test_media_store_only_stores_images(tmp_path):
    media = LocalMediaStore(tmp_path, "/media/")
    for kind in ("text/html", "image/svg+xml", "application/octet-stream"):
        with pytest.raises(InvalidMedia):
            await media.save(MediaBlob(kind, b"<script>alert(1)</script>"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["https://x/y.png", "data:image/png;base64,", "data:image/png;base64,@@@", "data:,"])
def test_bad_data_urls_are_refused(bad):
    with pytest.raises(InvalidMedia):
        decode_data_url(bad)


async def test_media_store_refuses_paths_outside_its_root(tmp_path):
    media = LocalMediaStore(tmp_path / "media", "/media/")
    with pytest.raises(InvalidMedia):
        await media.load("/media/../secret.txt")
    with pytest.raises(InvalidMedia):
        await media.load("/elsewhere/a.png")


def test_base_url_defaults_to_the_emulator_without_a_key():
    assert WorkerSettings(openrouter_api_key=None, openrouter_base_url=None).base_url == EMULATOR_BASE_URL
    assert WorkerSettings(openrouter_api_key="sk-or-1", openrouter_base_url=None).base_url == OPENROUTER_BASE_URL
    assert WorkerSettings(openrouter_base_url="http://x/api/v1/").base_url == "http://x/api/v1"
