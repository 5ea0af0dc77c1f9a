"""The OpenRouter emulator speaks OpenRouter's protocol and plays the faults tests ask for."""

import asyncio
import base64
import json
import struct
import uuid
import zlib
from decimal import Decimal

import httpx
import pytest
from openrouter_emulator.directives import parse
from openrouter_emulator.replies import build_reply

from shared.tokens import count_text

PRICE = Decimal("0.000002")


def body(text: str, **extra) -> dict:
    return {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


async def sse_lines(http: httpx.AsyncClient, payload: dict) -> list[str]:
    async with http.stream("POST", "/api/v1/chat/completions", json={**payload, "stream": True}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line async for line in response.aiter_lines() if line]


def data_chunks(lines: list[str]) -> list[dict]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def content_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def assert_valid_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, kind
        chunks[kind] = payload
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    assert b"IEND" in chunks
    return width, height


async def test_stream_shape_text_usage_and_done(http):
    lines = await sse_lines(http, body("Tell me about tea gardens", usage={"include": True}))
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert lines[-1] == "data: [DONE]"
    chunks = data_chunks(lines)
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("gen-")
    assert {c["model"] for c in chunks} == {"openai/gpt-4o-mini"}
    text = content_of(chunks)
    assert text.startswith('You said: "Tell me about tea gardens".')
    assert len([c for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content")]) >= 24
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["completion_tokens"] == count_text(text)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert Decimal(str(usage["cost"])) == PRICE * usage["total_tokens"]
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in chunks)


async def test_usage_only_when_asked(http):
    chunks = data_chunks(await sse_lines(http, body("no usage requested")))
    assert not any("usage" in c for c in chunks)


async def test_max_tokens_is_never_exceeded(http):
    lines = await sse_lines(http, body("count carefully [[reply:words=300]]", max_tokens=17, usage={"include": True}))
    chunks = data_chunks(lines)
    text = content_of(chunks)
    assert 0 < count_text(text) <= 17
    assert chunks[-1]["usage"]["completion_tokens"] <= 17
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "length" for c in chunks)


def test_build_reply_caps_tokens_property():
    words = ("alpha beta gamma سلام دنیا " * 40).split()
    for cap in (1, 2, 5, 16, 33, 100):
        reply = build_reply(words, cap)
        assert count_text(reply.text) <= cap
        assert reply.finish_reason == "length"


async def test_persian_input_gets_a_persian_reply(http):
    response = await http.post("/api/v1/chat/completions", json=body("سلام، یک شعر کوتاه بنویس"))
    content = response.json()["choices"][0]["message"]["content"]
    assert content.startswith("شما گفتید: «سلام، یک شعر کوتاه بنویس».")


async def test_non_streaming_answer(http):
    response = await http.post("/api/v1/chat/completions", json=body("plain please", max_tokens=50))
    data = response.json()
    assert response.status_code == 200
    assert data["object"] == "chat.completion"
    message = data["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"].startswith('You said: "plain please"')
    assert data["usage"]["completion_tokens"] == count_text(message["content"])
    assert data["usage"]["cost"] > 0


async def test_image_modality_returns_a_real_png(http):
    chunks = data_chunks(await sse_lines(http, body("draw a cat", modalities=["image", "text"])))
    images = [i for c in chunks if c.get("choices") for i in c["choices"][0]["delta"].get("images", [])]
    assert len(images) == 1 and images[0]["type"] == "image_url"
    url = images[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert assert_valid_png(base64.b64decode(url.split(",", 1)[1])) == (64, 64)


async def test_fallback_chain_skips_unavailable_models(http):
    payload = body("fallback", model="acme/unavailable-1", models=["acme/unavailable-1", "google/gemini-pro"])
    chunks = data_chunks(await sse_lines(http, payload))
    assert {c["model"] for c in chunks} == {"google/gemini-pro"}
    response = await http.post("/api/v1/chat/completions", json=body("x", model="acme/unavailable-2"))
    assert response.status_code == 503 and "error" in response.json()


async def test_title_requests_get_a_quoted_title(http):
    payload = {"model": "m", "messages": [
        {"role": "system", "content": "Answer with a title of at most 5 words."},
        {"role": "user", "content": "User: Planning a trip to Isfahan in spring\n\nAssistant: Sure."},
    ]}
    response = await http.post("/api/v1/chat/completions", json=payload)
    assert response.json()["choices"][0]["message"]["content"] == '"Planning a trip to"'


@pytest.mark.parametrize(
    ("payload", "headers", "status"),
    [
        (body("hi"), {"Authorization": ""}, 401),
        (body("hi"), {"Authorization": "Basic abc"}, 401),
        ({"model": "m", "messages": []}, {}, 400),
        ({"model": "m", "messages": "hello"}, {}, 400),
        ({"messages": [{"role": "user", "content": "x"}]}, {}, 400),
        (body("hi", max_tokens=0), {}, 400),
        (body("hi", max_tokens="12"), {}, 400),
        (body("hi", models="not-a-list"), {}, 400),
        ([1, 2, 3], {}, 400),
    ],
)
async def test_bad_requests_get_clear_4xx(http, payload, headers, status):
    response = await http.post("/api/v1/chat/completions", json=payload, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


async def test_invalid_json_is_400(http):
    response = await http.post("/api/v1/chat/completions", content=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400


async def test_http_fault_with_retry_after(http):
    response = await http.post("/api/v1/chat/completions", json=body("hi [[fault:http_429 retry_after=2]]"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == 429


async def test_fail_times_fails_then_succeeds(http):
    payload = body(f"flaky {uuid.uuid4()} [[fault:fail_times=2 status=502]]")
    statuses = [(await http.post("/api/v1/chat/completions", json=payload)).status_code for _ in range(4)]
    assert statuses == [502, 502, 200, 200]


async def test_cut_after_drops_the_connection(http):
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("POST", "/api/v1/chat/completions",
                               json=body("cut [[fault:cut_after=3]]", stream=True)) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
    assert len(received) == 3
    assert "[DONE]" not in json.dumps(received)


async def test_error_chunk_arrives_inside_the_stream(http):
    lines = await sse_lines(http, body("err [[fault:error_chunk after=2 code=503]]"))
    chunks = data_chunks(lines)
    assert len(chunks) == 3
    assert chunks[-1]["error"]["code"] == 503
    assert chunks[-1]["choices"][0]["finish_reason"] == "error"
    assert "data: [DONE]" not in lines


async def test_slow_first_token_sends_keepalive_comments(http):
    lines = await sse_lines(http, body("slow [[fault:slow_first_token=1.2]] [[reply:words=3]]"))
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert lines[:first_data] == [": OPENROUTER PROCESSING"] * 3


async def test_no_usage_then_generation_lookup_with_lag(http):
    chunks = data_chunks(await sse_lines(http, body("quiet [[fault:no_usage lag=1]]", usage={"include": True})))
    assert not any("usage" in c for c in chunks)
    generation_id = chunks[0]["id"]
    first = await http.get("/api/v1/generation", params={"id": generation_id})
    assert first.status_code == 404
    second = await http.get("/api/v1/generation", params={"id": generation_id})
    assert second.status_code == 200
    data = second.json()["data"]
    assert data["id"] == generation_id and data["model"] == "openai/gpt-4o-mini"
    assert data["tokens_completion"] == count_text(content_of(chunks))
    assert Decimal(str(data["total_cost"])) == PRICE * (data["tokens_prompt"] + data["tokens_completion"])


async def test_no_cost_keeps_tokens(http):
    chunks = data_chunks(await sse_lines(http, body("tokens only [[fault:no_cost]]", usage={"include": True})))
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] > 0 and "cost" not in usage


async def test_generation_lookup_errors(http):
    assert (await http.get("/api/v1/generation", params={"id": "gen-unknown"})).status_code == 404
    assert (await http.get("/api/v1/generation")).status_code == 400
    assert (await http.get("/api/v1/generation", params={"id": "x"}, headers={"Authorization": ""})).status_code == 401


async def test_models_list(http):
    data = (await http.get("/api/v1/models", headers={"Authorization": ""})).json()["data"]
    slugs = {m["id"] for m in data}
    assert {"openai/gpt-4o-mini", "google/gemini-2.5-flash-image-preview"} <= slugs


async def test_admin_queue_faults_in_order_and_clear(http):
    await http.post("/_emulator/faults", json={"faults": ["http_500", ["http_429 retry_after=1"], "http_503"]})
    first = await http.post("/api/v1/chat/completions", json=body("one"))
    second = await http.post("/api/v1/chat/completions", json=body("two"))
    assert (first.status_code, second.status_code) == (500, 429)
    assert second.headers["Retry-After"] == "1"
    await http.delete("/_emulator/faults")
    assert (await http.post("/api/v1/chat/completions", json=body("three"))).status_code == 200


async def test_admin_rejects_malformed_fault_lists(http):
    assert (await http.post("/_emulator/faults", json={"faults": "http_500"})).status_code == 422


async def test_stats_count_requests_and_remember_headers(http):
    await http.delete("/_emulator/stats")
    await http.post("/api/v1/chat/completions", json=body("a"), headers={"X-Title": "Tests"})
    await http.post("/api/v1/chat/completions", json=body("b [[fault:http_502]]"))
    stats = (await http.get("/_emulator/stats")).json()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"200": 1, "502": 1}
    assert stats["last_body"]["messages"][0]["content"].startswith("b ")
    assert "authorization" not in stats["last_headers"]


async def test_client_disconnect_is_counted_and_recorded(http):
    await http.delete("/_emulator/stats")
    async with http.stream("POST", "/api/v1/chat/completions",
                           json=body("long [[reply:words=500 delay=0.02]]", stream=True)) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                generation_id = json.loads(line[6:])["id"]
                break
    for _ in range(100):  # the emulator notices the disconnect a moment later
        found = await http.get("/api/v1/generation", params={"id": generation_id})
        if found.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert found.json()["data"]["cancelled"] is True
    assert (await http.get("/_emulator/stats")).json()["streams_disconnected"] == 1


def test_directive_parsing():
    found = parse("hi [[fault:http_429 retry_after=1]] and [[fault:cut_after=5]] [[reply:words=9 delay=0]]")
    assert [(f.kind, f.value, f.params) for f in found.faults] == [
        ("http_429", None, {"retry_after": "1"}),
        ("cut_after", "5", {}),
    ]
    assert found.reply == {"words": "9", "delay": "0"}
    assert found.http_status().number("retry_after") == 1.0
