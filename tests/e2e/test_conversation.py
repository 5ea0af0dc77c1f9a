"""Conversation flows over the real system: streaming, edit, regenerate, stop, titles, isolation."""

import asyncio
import json
import time
import uuid
from typing import Self

import aio_pika
import pytest

from tests.support.api import Api
from tests.support.sse import EventCollector


@pytest.fixture
def chat(premium):
    session = premium.post("/api/chat-sessions/", json={"chatbot_id": 1}).json()
    return premium, session


def _send(api: Api, session_id: int, text: str, **kw) -> dict:
    response = api.post(f"/api/chat-sessions/{session_id}/send/", json={"message": text}, **kw)
    assert response.status_code == 201, response.text
    return response.json()["user_message"]


def test_stream_shows_queued_deltas_and_completed(chat):
    api, session = chat
    url = f"/api/chat-sessions/{session['id']}/stream/"
    collector = EventCollector(api.http, url).start()
    time.sleep(0.3)  # the stream reads from "now": let it attach before sending
    sent = _send(api, session["id"], "Tell me something about the sea.")
    events = collector.wait()
    names = [e["event"] for e in events]
    assert names[0] == "reply.queued" and names[-1] == "reply.completed"
    deltas = [e["data"] for e in events if e["event"] == "reply.delta"]
    assert deltas, names
    completed = events[-1]["data"]
    assert "".join(d["delta"] for d in deltas) == completed["content"]
    assert {d["message_id"] for d in deltas} == {completed["message_id"]}
    assert events[0]["data"]["user_message"]["message_id"] == sent["message_id"]
    assert all(e.get("id") for e in events)


class EventsSpy:
    """A queue of our own bound to every routing key of the `events` exchange: what the broker carried."""

    def __init__(self, rabbit_url: str) -> None:
        self.url, self.queue = rabbit_url, f"test.events-spy.{uuid.uuid4().hex[:8]}"

    async def _declare(self) -> None:
        async with await aio_pika.connect(self.url) as conn:
            queue = await (await conn.channel()).declare_queue(self.queue, auto_delete=False)
            await queue.bind("events", "#")

    async def _drain(self) -> list[tuple[str, dict]]:
        async with await aio_pika.connect(self.url) as conn:
            channel = await conn.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            taken = []
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                taken.append((message.routing_key or "", json.loads(message.body)))
            await queue.delete(if_unused=False, if_empty=False)
            return taken

    def __enter__(self) -> Self:
        asyncio.run(self._declare())
        return self

    def __exit__(self, *exc: object) -> None:
        self.carried = asyncio.run(self._drain())


def test_paced_deltas_reach_readers_from_redis_without_a_broker_message_each(system, chat):
    """A reply paced like a real model (60 chunks ~12 ms apart): a reader sees it whole and coalesced,
    another resumes mid-reply with Last-Event-ID, and the broker carried no delta at all."""
    api, session = chat
    words = 60
    url = f"/api/chat-sessions/{session['id']}/stream/"
    with EventsSpy(system.rabbit_url) as spy:
        reader = EventCollector(api.http, url).start()
        cut = EventCollector(api.http, url, until=lambda e: e["event"] == "reply.delta").start()
        time.sleep(0.3)  # the streams read from "now": let them attach before sending
        sent = _send(api, session["id"], f"Pace yourself [[reply:words={words} delay=0.012]]")
        events = reader.wait()
        first = cut.wait()[-1]  # this reader went away after the first delta…
        resumed = EventCollector(api.http, url, headers={"Last-Event-ID": first["id"]}).start().wait()
        api.wait_for_reply(session["id"], sent["message_id"])
    completed = events[-1]
    assert completed["event"] == "reply.completed", [e["event"] for e in events]
    deltas = [e for e in events if e["event"] == "reply.delta"]
    assert "".join(e["data"]["delta"] for e in deltas) == completed["data"]["content"]
    assert len(completed["data"]["content"].split()) == words
    # Coalesced by time: far fewer stream entries than the model's chunks.
    assert 2 <= len(deltas) <= words // 2, [e["data"]["delta"] for e in deltas]
    # …and its resumption picks up right after that delta, the completion last.
    assert [e["id"] for e in resumed] == [e["id"] for e in events[events.index(first) + 1:]]
    assert resumed[-1]["event"] == "reply.completed"
    mine = [key for key, body in spy.carried if body.get("session_id") == session["id"]]
    assert "chat.reply_queued" in mine and "llm.reply_completed" in mine, mine
    assert not [key for key, _ in spy.carried if "delta" in key], mine
    assert len(mine) < len(deltas) + 5, mine  # a handful per reply, not one per delta


def test_last_event_id_resumes_the_stream(chat):
    api, session = chat
    url = f"/api/chat-sessions/{session['id']}/stream/"
    first = EventCollector(api.http, url, until=lambda e: e["event"] == "reply.queued").start()
    time.sleep(0.3)
    sent = _send(api, session["id"], "Count to ten slowly.")
    queued = first.wait()[-1]
    api.wait_for_reply(session["id"], sent["message_id"])
    resumed = EventCollector(api.http, url, headers={"Last-Event-ID": queued["id"]}).start().wait()
    assert resumed[0]["event"] == "reply.delta"
    assert resumed[-1]["event"] == "reply.completed"


def test_second_send_during_reply_is_409_and_stop_keeps_partial(premium):
    api = premium
    session = api.post("/api/chat-sessions/", json={"chatbot_id": 1}).json()
    # A slow first token keeps the reply in progress long enough to collide and stop.
    sent = _send(api, session["id"], "Write a long story [[fault:slow_first_token=2]]")
    busy = api.post(f"/api/chat-sessions/{session['id']}/send/", json={"message": "again"})
    assert busy.status_code == 409 and busy.json()["code"] == "reply_in_progress"
    stopped = api.post(f"/api/chat-sessions/{session['id']}/stop/")
    assert stopped.status_code == 202, stopped.text
    result = api.wait_for_reply(session["id"], sent["message_id"])
    assert result["user_message"]["reply_status"] == "completed"
    nothing = api.post(f"/api/chat-sessions/{session['id']}/stop/")
    assert nothing.status_code == 409 and nothing.json()["code"] == "no_reply_in_progress"


def test_edit_disables_later_messages_and_replies_again(chat):
    api, session = chat
    first = _send(api, session["id"], "My name is Ali.")
    api.wait_for_reply(session["id"], first["message_id"])
    second = _send(api, session["id"], "What is my name?")
    api.wait_for_reply(session["id"], second["message_id"])
    edited = api.post(f"/api/chat-sessions/{session['id']}/messages/{first['message_id']}/edit/",
                      json={"content": "My name is Reza."})
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["disabled_message_ids"]) == 3
    result = api.wait_for_reply(session["id"], first["message_id"])
    messages = result["messages"]
    assert [m["message_type"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "My name is Reza." and messages[0]["edited_at"]


def test_regenerate_replaces_the_last_reply(chat):
    api, session = chat
    sent = _send(api, session["id"], "Give me a colour.")
    old_reply = api.wait_for_reply(session["id"], sent["message_id"])["messages"][-1]
    regenerated = api.post(f"/api/chat-sessions/{session['id']}/regenerate/")
    assert regenerated.status_code == 202, regenerated.text
    assert regenerated.json()["disabled_message_ids"] == [old_reply["message_id"]]
    messages = api.wait_for_reply(session["id"], sent["message_id"])["messages"]
    assert len(messages) == 2 and messages[-1]["message_id"] != old_reply["message_id"]


def test_first_reply_generates_a_title(chat):
    api, session = chat
    sent = _send(api, session["id"], "How do volcanoes form?")
    api.wait_for_reply(session["id"], sent["message_id"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        title = api.get(f"/api/chat-sessions/{session['id']}/").json()["title"]
        if title != "New Chat":
            break
        time.sleep(0.1)
    assert title != "New Chat" and len(title) <= 50


def test_another_users_session_is_404_everywhere(system, chat):
    owner, session = chat
    stranger = Api(system.gateway_url)
    stranger.register()
    sid = session["id"]
    for method, path, body in [
        ("GET", f"/api/chat-sessions/{sid}/", None),
        ("PUT", f"/api/chat-sessions/{sid}/", {"title": "mine"}),
        ("PATCH", f"/api/chat-sessions/{sid}/", {"title": "mine"}),
        ("DELETE", f"/api/chat-sessions/{sid}/", None),
        ("GET", f"/api/chat-sessions/{sid}/messages/", None),
        ("POST", f"/api/chat-sessions/{sid}/send/", {"message": "hi"}),
        ("POST", f"/api/chat-sessions/{sid}/update-title/", {"title": "x"}),
        ("POST", f"/api/chat-sessions/{sid}/regenerate/", None),
        ("POST", f"/api/chat-sessions/{sid}/stop/", None),
        ("GET", f"/api/chat-sessions/{sid}/stream/", None),
    ]:
        response = stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert response.json() == {"detail": "Not found."}
    assert stranger.get("/api/chat-sessions/").json() == []
    assert owner.get(f"/api/chat-sessions/{sid}/").status_code == 200


def test_stream_works_across_two_gateway_replicas(system, chat):
    """A client sends through one gateway and streams from another, then resumes on the first."""
    import subprocess
    import sys

    import httpx
    from devinfra.system import free_port

    api, session = chat
    port = free_port()
    env = {**system.env(), "GATEWAY_PORT": str(port), "GATEWAY_METRICS_PORT": "0", "MOBIX_ADMIN_PHONE": "",
           "MOBIX_ADMIN_PASSWORD": ""}
    log = open(system.workdir / "gateway-2.log", "ab")  # noqa: SIM115 - owned by the process
    second = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert second.poll() is None, "second gateway exited"
            time.sleep(0.2)
        replica = Api(f"http://127.0.0.1:{port}")
        replica.http.cookies = api.http.cookies  # the same login: sessions live in Redis
        url = f"/api/chat-sessions/{session['id']}/stream/"
        collector = EventCollector(replica.http, url).start()
        time.sleep(0.3)
        sent = _send(api, session["id"], "Hello from the other replica.")
        events = collector.wait()
        assert [e["event"] for e in events][0] == "reply.queued" and events[-1]["event"] == "reply.completed"
        assert events[0]["data"]["user_message"]["message_id"] == sent["message_id"]
        resumed = EventCollector(api.http, url, headers={"Last-Event-ID": events[0]["id"]}).start().wait()
        assert [e["id"] for e in resumed] == [e["id"] for e in events[1:]]
    finally:
        second.terminate()
        second.wait(timeout=30)
