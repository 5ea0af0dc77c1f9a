"""A proof that stays true (issue 11): a Python client generated with openapi-python-client from the
running gateway's /api/schema/ drives a whole user journey against the real processes — token login,
catalog, a session, send, the stream until `reply.completed` (resumed with Last-Event-ID), edit,
regenerate, usage, titles, tokens, delete. A generator warning, or a step the generated client cannot
express or parse into its typed models, fails this test.

The stream is read with httpx-sse over the generated client's own httpx client (which carries the
token); its events are parsed with the generated event models.
"""

import importlib
import json
import uuid
from types import ModuleType

import pytest
from httpx_sse import connect_sse

from tests.support.api import Api
from tests.support.generated_client import generate_client

PREMIUM = 3
PASSWORD = "generated client journey"


@pytest.fixture(scope="module")
def gen(system, tmp_path_factory) -> ModuleType:
    return generate_client(f"{system.gateway_url}/api/schema/", tmp_path_factory.mktemp("generated"))


def load(gen: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{gen.__name__}.{name}")


@pytest.fixture
def account(system, admin) -> dict:
    """A Premium user made by the test helpers (never by calling register here)."""
    client = Api(system.gateway_url)
    user = client.register(password=PASSWORD)
    response = admin.post(f"/api/admin/users/{user['id']}/subscription/", json={"subscription_type_id": PREMIUM})
    assert response.status_code == 200, response.text
    return user


class Stream:
    """Reads a session's events with the generated client, resuming after the last event seen."""

    def __init__(self, gen: ModuleType, client, session_id: int) -> None:
        self.gen, self.client, self.session_id = gen, client, session_id
        self.last_event_id = "0-0"  # from the start of the session's stream
        self.seen: list[tuple[str, object]] = []

    def until(self, done) -> list[tuple[str, object]]:
        """Reconnect with Last-Event-ID and read until `done(name, data)`; the events read."""
        models = load(self.gen, "models")
        parse = {"reply.queued": models.ReplyQueuedEvent, "reply.delta": models.ReplyDeltaEvent,
                 "reply.completed": models.ChatMessage, "reply.failed": models.ReplyFailedEvent,
                 "session.title": models.SessionTitleEvent}
        url = load(self.gen, "api.streaming.stream")._get_kwargs(self.session_id)["url"]
        read: list[tuple[str, object]] = []
        http = self.client.get_httpx_client()
        with connect_sse(http, "GET", url, headers={"Last-Event-ID": self.last_event_id}, timeout=60) as source:
            assert source.response.status_code == 200, source.response.read()
            for event in source.iter_sse():
                self.last_event_id = event.id or self.last_event_id
                if event.event not in parse:  # the stream's opening `retry:` line has no event of ours
                    continue
                data = parse[event.event].from_dict(json.loads(event.data))
                read.append((event.event, data))
                if done(event.event, data):
                    break
        self.seen += read
        return read


def completed(exchange_id: str):
    return lambda name, data: name in ("reply.completed", "reply.failed") and str(data.message_id) == exchange_id


@pytest.mark.timeout(900)
def test_a_whole_journey_through_the_generated_client(gen, system, account):
    models = load(gen, "models")
    api = {name: load(gen, f"api.{name}") for name in
           ("auth.obtain_token", "users.me", "catalog.list_chatbots", "catalog.list_models",
            "chat_sessions.create_session", "chat_sessions.send", "chat_sessions.list_messages",
            "chat_sessions.edit_message", "chat_sessions.regenerate", "chat_sessions.update_title",
            "chat_sessions.get_session", "chat_sessions.delete_session", "chat_sessions.list_sessions",
            "usage.usage", "usage.session_usages", "api_tokens.list_tokens", "api_tokens.create_token",
            "api_tokens.revoke_token")}

    # Token login: no cookie jar, no CSRF header from here on.
    anonymous = gen.Client(base_url=system.gateway_url, raise_on_unexpected_status=True)
    issued = api["auth.obtain_token"].sync(
        client=anonymous,
        body=models.TokenLoginBody(phone_number=account["phone_number"], password=PASSWORD, name="journey"),
    )
    assert isinstance(issued, models.NewApiToken), issued
    client = gen.AuthenticatedClient(base_url=system.gateway_url, token=issued.token, raise_on_unexpected_status=True)
    me = api["users.me"].sync(client=client)
    assert isinstance(me, models.UserOut) and me.id == account["id"]

    # The catalog: plain arrays, and a typed page with ?page=.
    chatbots = api["catalog.list_chatbots"].sync(client=client)
    assert isinstance(chatbots, list) and all(isinstance(b, models.Chatbot) for b in chatbots) and chatbots
    page = api["catalog.list_models"].sync(client=client, page=1, page_size=2)
    assert isinstance(page, models.AiModelPage) and page.count >= len(page.results) > 0
    assert isinstance(page.results[0].model_type, models.Modality)

    # A session, and a send that is safe to retry.
    session = api["chat_sessions.create_session"].sync(client=client, body=models.CreateSessionBody(chatbot_id=chatbots[0].id))
    assert isinstance(session, models.ChatSession)
    key = str(uuid.uuid4())
    body = models.SendBody(message="Tell me about the sea.")
    sent = api["chat_sessions.send"].sync_detailed(session.id, client=client, body=body, idempotency_key=key)
    assert sent.status_code == 201 and isinstance(sent.parsed, models.SendResult)
    assert int(sent.headers["X-RateLimit-Remaining"]) >= 0
    again = api["chat_sessions.send"].sync_detailed(session.id, client=client, body=body, idempotency_key=key)
    assert again.parsed.user_message.message_id == sent.parsed.user_message.message_id  # nothing sent twice

    # The stream until the reply is complete (and the generated title arrives).
    stream = Stream(gen, client, session.id)
    events = stream.until(lambda name, data: name == "reply.queued")
    queued = events[-1][1]
    assert queued.user_message.message_id == sent.parsed.user_message.message_id
    exchange = str(queued.message_id)
    events = stream.until(completed(exchange))
    name, reply = events[-1]
    assert name == "reply.completed" and reply.message_type == models.MessageType.ASSISTANT
    deltas = [data for name, data in stream.seen if name == "reply.delta" and str(data.message_id) == exchange]
    assert "".join(d.delta for d in deltas) == reply.content
    if not any(name == "session.title" for name, _ in stream.seen):
        stream.until(lambda name, data: name == "session.title")
    title = next(data.title for name, data in stream.seen if name == "session.title")
    assert api["chat_sessions.get_session"].sync(session.id, client=client).title == title

    # Edit the message: its reply is replaced by a new one, read by resuming the stream.
    user_message = sent.parsed.user_message
    edited = api["chat_sessions.edit_message"].sync(session.id, user_message.message_id, client=client,
                                                    body=models.EditBody(content="Tell me about mountains."))
    assert isinstance(edited, models.DisabledResult) and edited.disabled_message_ids == [reply.message_id]
    queued = stream.until(lambda name, data: name == "reply.queued")[-1][1]
    name, edited_reply = stream.until(completed(str(queued.message_id)))[-1]
    assert name == "reply.completed"

    # Regenerate the last reply.
    regenerated = api["chat_sessions.regenerate"].sync(session.id, client=client)
    assert isinstance(regenerated, models.DisabledResult)
    assert regenerated.disabled_message_ids == [edited_reply.message_id]
    queued = stream.until(lambda name, data: name == "reply.queued")[-1][1]
    name, last_reply = stream.until(completed(str(queued.message_id)))[-1]
    assert name == "reply.completed"
    history = api["chat_sessions.list_messages"].sync(session.id, client=client)
    assert [m.message_id for m in history.messages] == [user_message.message_id, last_reply.message_id]
    assert history.messages[0].content == "Tell me about mountains."
    assert history.messages[0].reply_status == models.ReplyStatus.COMPLETED

    # Usage: every limit typed, and this session's row.
    report = api["usage.usage"].sync(client=client)
    assert isinstance(report, models.UsageReport) and len(report.limits) == 20
    hourly = next(limit for limit in report.limits if limit.name == "hourly_messages")
    assert isinstance(hourly.used, int) and hourly.used >= 1
    usages = api["usage.session_usages"].sync(client=client)
    assert any(row.session_id == session.id and row.tokens_count + row.free_model_tokens_count > 0 for row in usages)

    # Rename, then list.
    renamed = api["chat_sessions.update_title"].sync(session.id, client=client, body=models.TitleBody(title="Peaks"))
    assert isinstance(renamed, models.TitleResult) and renamed.title == "Peaks"
    sessions = api["chat_sessions.list_sessions"].sync(client=client)
    assert [s.title for s in sessions if s.id == session.id] == ["Peaks"]

    # Tokens: another one, listed without secrets, revoked.
    extra = api["api_tokens.create_token"].sync(client=client, body=models.CreateTokenBody(name="spare", expires_in_days=7))
    assert isinstance(extra, models.NewApiToken) and extra.expires_at is not None
    listed = api["api_tokens.list_tokens"].sync(client=client)
    assert {t.id for t in listed} == {issued.token_id, extra.token_id}
    revoked = api["api_tokens.revoke_token"].sync_detailed(extra.token_id, client=client)
    assert revoked.status_code == 204
    gone = gen.AuthenticatedClient(base_url=system.gateway_url, token=extra.token)
    refused = api["users.me"].sync_detailed(client=gone)
    assert refused.status_code == 401 and refused.parsed.detail == "Invalid token."

    # Delete the session: it is gone.
    deleted = api["chat_sessions.delete_session"].sync(session.id, client=client)
    assert isinstance(deleted, models.Success) and deleted.success
    missing = api["chat_sessions.get_session"].sync_detailed(session.id, client=gen.AuthenticatedClient(
        base_url=system.gateway_url, token=issued.token))
    assert missing.status_code == 404 and isinstance(missing.parsed, models.DetailBody)
