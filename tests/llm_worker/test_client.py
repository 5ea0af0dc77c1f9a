"""The OpenRouter client against the emulator: streaming, usage, images, faults and retries."""

import base64
import uuid
from decimal import Decimal

import pytest
from llm_worker.client import ChatRequest, OpenRouterClient, StreamBroken, UpstreamError

from shared.tokens import count_text
from tests.llm_worker.conftest import openrouter_client

PRICE = Decimal("0.000002")


def request(text: str, **extra) -> ChatRequest:
    # A unique marker keeps `fail_times` counters of different tests apart.
    content = f"{text} ({uuid.uuid4().hex[:8]})"
    return ChatRequest(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": content}], **extra)


async def collect(client: OpenRouterClient, req: ChatRequest):
    deltas = []
    async with client.stream(req) as stream:
        async for delta in stream:
            deltas.append(delta)
    return stream, deltas


async def stats(admin) -> dict:
    return (await admin.get("/_emulator/stats")).json()


async def test_streams_text_with_usage_and_cost(client, emulator_admin):
    stream, deltas = await collect(client, request("Hello streaming world"))
    text = "".join(d.text for d in deltas)
    assert text.startswith('You said: "Hello streaming world')
    assert len(deltas) >= 24
    assert stream.finish_reason == "stop"
    assert stream.model == "openai/gpt-4o-mini"
    assert stream.generation_id.startswith("gen-")
    assert stream.usage["completion_tokens"] == count_text(text)
    assert Decimal(str(stream.usage["cost"])) == PRICE * stream.usage["total_tokens"]
    assert stream.attempts == 1


async def test_finished_streams_reuse_one_connection(client, emulator_admin):
    for text in ("first", "second", "third"):
        await collect(client, request(text))
    await client.complete(request("and a title"))
    counted = await stats(emulator_admin)
    assert counted["requests"] == 4
    assert counted["client_connections"] == 1  # no new TCP (or TLS) handshake per reply


async def test_a_stream_left_mid_reply_closes_its_connection(client, emulator_admin):
    async with client.stream(request("Tell me something long")) as stream:
        async for _ in stream:
            break  # a stop: the provider must see the connection go, to end the generation
    await collect(client, request("the next one"))
    assert (await stats(emulator_admin))["client_connections"] == 2


async def test_sends_attribution_headers_and_usage_flag(client, emulator_admin):
    await collect(client, request("headers", max_tokens=40))
    seen = await stats(emulator_admin)
    assert seen["last_headers"]["http-referer"] == "https://mobixai.test"
    assert seen["last_headers"]["x-title"] == "MobixAI tests"
    assert seen["last_body"]["usage"] == {"include": True}
    assert seen["last_body"]["max_tokens"] == 40 and seen["last_body"]["stream"] is True


async def test_images_arrive_as_data_urls(client):
    _, deltas = await collect(client, request("draw a fox", modalities=["image", "text"]))
    images = [url for d in deltas for url in d.images]
    assert len(images) == 1
    png = base64.b64decode(images[0].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_keepalive_comments_before_the_first_token_are_ignored(client):
    _, deltas = await collect(client, request("slow start [[fault:slow_first_token=0.6]] [[reply:words=5]]"))
    assert "".join(d.text for d in deltas).startswith('You said: "slow start')


async def test_max_tokens_is_sent_and_honoured(client):
    stream, deltas = await collect(client, request("short please [[reply:words=200]]", max_tokens=16))
    assert count_text("".join(d.text for d in deltas)) <= 16
    assert stream.finish_reason == "length"


async def test_error_chunk_after_text_breaks_the_stream_without_retry(client, emulator_admin):
    deltas = []
    with pytest.raises(StreamBroken) as info:
        async with client.stream(request("oops [[fault:error_chunk after=2 code=502]]")) as stream:
            async for delta in stream:
                deltas.append(delta)
    assert len(deltas) == 2
    assert info.value.code == "stream_error"
    assert (await stats(emulator_admin))["requests"] == 1


async def test_error_chunk_before_the_first_token_is_retried(client, emulator_admin, sleeps):
    with pytest.raises(UpstreamError) as info:
        await collect(client, request("never [[fault:error_chunk after=0 code=503]]"))
    assert not isinstance(info.value, StreamBroken)
    assert (await stats(emulator_admin))["requests"] == client.settings.max_attempts
    assert len(sleeps.pauses) == client.settings.max_attempts - 1


async def test_missing_usage_is_looked_up_even_when_it_lags(client, sleeps):
    stream, deltas = await collect(client, request("quiet [[fault:no_usage lag=2]]"))
    assert stream.usage is None
    found = await client.generation(stream.generation_id)
    assert found is not None
    assert found.completion_tokens == count_text("".join(d.text for d in deltas))
    assert found.cost == PRICE * (found.prompt_tokens + found.completion_tokens)
    assert found.model == "openai/gpt-4o-mini"
    assert len(sleeps.pauses) == 2  # two "not yet" answers, then the stats


async def test_unknown_generation_gives_up(client, sleeps):
    assert await client.generation("gen-does-not-exist") is None
    assert len(sleeps.pauses) == client.settings.generation_lookup_attempts - 1


async def test_429_is_retried_after_the_servers_retry_after(client, emulator_admin, sleeps):
    await emulator_admin.post("/_emulator/faults", json={"faults": ["http_429 retry_after=1"]})
    stream, deltas = await collect(client, request("rate limited once"))
    assert deltas and stream.attempts == 2
    assert sleeps.pauses == [1.0]
    assert (await stats(emulator_admin))["by_status"] == {"429": 1, "200": 1}


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(emulator, emulator_admin, sleeps):
    async with openrouter_client(emulator, sleeps, retry_after_max_seconds=5) as client:
        await emulator_admin.post("/_emulator/faults", json={"faults": ["http_429 retry_after=60"]})
        with pytest.raises(UpstreamError) as info:
            await collect(client, request("go away"))
    assert info.value.code == "rate_limited" and info.value.retry_after == 60
    assert sleeps.pauses == []


async def test_500s_are_retried_then_succeed(client, emulator_admin, sleeps):
    stream, deltas = await collect(client, request("flaky [[fault:fail_times=2 status=500]]"))
    assert deltas and stream.attempts == 3
    assert len(sleeps.pauses) == 2
    assert all(0 <= p <= client.settings.backoff_max_seconds for p in sleeps.pauses)
    assert (await stats(emulator_admin))["by_status"] == {"500": 2, "200": 1}


async def test_client_errors_are_not_retried(client, emulator_admin, sleeps):
    with pytest.raises(UpstreamError) as info:
        await collect(client, request("bad [[fault:http_400]]"))
    assert (info.value.code, info.value.status, info.value.retryable) == ("bad_request", 400, False)
    assert sleeps.pauses == []
    assert (await stats(emulator_admin))["requests"] == 1


async def test_stream_cut_after_the_first_token_is_not_retried(client, emulator_admin, sleeps):
    deltas = []
    with pytest.raises(StreamBroken):
        async with client.stream(request("cut [[fault:cut_after=4]]")) as stream:
            async for delta in stream:
                deltas.append(delta)
    assert len(deltas) == 4
    assert sleeps.pauses == []
    assert (await stats(emulator_admin))["requests"] == 1


async def test_stream_cut_before_the_first_token_is_retried(client, emulator_admin):
    await emulator_admin.post("/_emulator/faults", json={"faults": ["cut_after=0"]})
    stream, deltas = await collect(client, request("cut early"))
    assert deltas and stream.attempts == 2


async def test_fallback_model_is_reported(client, emulator_admin):
    req = request("fallback", fallback_models=["google/gemini-pro"])
    req.model = "acme/unavailable-model"  # the emulator skips slugs saying "unavailable"
    stream, _ = await collect(client, req)
    assert stream.model == "google/gemini-pro"
    assert (await stats(emulator_admin))["last_body"]["models"] == ["acme/unavailable-model", "google/gemini-pro"]


async def test_first_token_timeout_is_retried_then_fails(emulator, emulator_admin, sleeps):
    async with openrouter_client(emulator, sleeps, first_token_timeout_seconds=0.3, max_attempts=2) as client:
        with pytest.raises(UpstreamError) as info:
            await collect(client, request("too slow [[fault:slow_first_token=5]]"))
    assert info.value.code == "timeout"
    assert (await stats(emulator_admin))["requests"] == 2


async def test_whole_reply_timeout_breaks_a_stalled_stream(emulator, emulator_admin):
    deltas = []
    async with openrouter_client(emulator, reply_timeout_seconds=0.5) as client:
        with pytest.raises(StreamBroken) as info:
            async with client.stream(request("stall [[fault:stall_after=3]]")) as stream:
                async for delta in stream:
                    deltas.append(delta)
    assert len(deltas) == 3 and info.value.code == "timeout"


async def test_connection_refused_is_retried_then_reported(emulator, sleeps):
    nowhere = "http://127.0.0.1:9/api/v1"
    async with openrouter_client(emulator, sleeps, openrouter_base_url=nowhere, max_attempts=3) as client:
        with pytest.raises(UpstreamError) as info:
            await collect(client, request("anyone there?"))
    assert info.value.code == "upstream_unavailable"
    assert len(sleeps.pauses) == 2


async def test_non_streaming_completion(client):
    done = await client.complete(request("plain answer", max_tokens=30, fallback_models=["openai/gpt-4-turbo"]))
    assert done.content.startswith('You said: "plain answer')
    assert done.model == "openai/gpt-4o-mini"
    assert done.usage["completion_tokens"] == count_text(done.content) <= 30
    assert done.generation_id.startswith("gen-")


async def test_non_streaming_retries_transient_failures(client, sleeps):
    done = await client.complete(request("title soon [[fault:fail_times=1 status=503]]"))
    assert done.content and len(sleeps.pauses) == 1
