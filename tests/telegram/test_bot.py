"""The Telegram bot end to end (issue 15): real processes — the Telegram emulator, the bot in webhook
mode, the real gateway and services. The user's side is driven through the emulator; what the bot
sent and edited is read back from it; the API is checked with the same user's own web login."""

import time

import httpx
import pytest
from telegram_bot.render import render_parts, to_html

from tests.support.api import Api
from tests.telegram.conftest import TelegramUser, finished

PREMIUM = 3
STREAMED = " [[reply:words=40 delay=0.04]]"  # about 1.6 s of streaming


@pytest.fixture
def account(system) -> Api:
    return Api(system.gateway_url)


def linked_user(system, account: Api, language: str = "en", admin: Api | None = None) -> TelegramUser:
    """A Telegram user whose phone already has a web account (so the test can read it through the API);
    on Premium when `admin` is given (room for more than the Free plan's 2 messages an hour)."""
    user = TelegramUser(system, language)
    registered = account.register(user.phone)
    if admin is not None:
        upgraded = admin.post(f"/api/admin/users/{registered['id']}/subscription/", json={"subscription_type_id": PREMIUM})
        assert upgraded.status_code == 200, upgraded.text
    user.link()
    return user


def last_reply(account: Api) -> dict:
    sessions = account.get("/api/chat-sessions/").json()
    messages = account.get(f"/api/chat-sessions/{sessions[0]['id']}/messages/").json()["messages"]
    assert messages[-1]["message_type"] == "assistant"
    return messages[-1]


# ---- linking ---------------------------------------------------------------------------------------

def test_start_asks_for_the_contact_with_the_contact_button(user):
    user.say("/start")
    [asked] = user.wait_for_count(1)
    [[button]] = asked["reply_markup"]["keyboard"]
    assert button["request_contact"] is True


def test_own_contact_links_and_creates_a_verified_account(system, user, admin):
    user.link()
    linked = user.messages()[-1]
    assert "linked" in linked["text"]
    found = admin.get("/api/admin/users/", params={"search": user.phone}).json()
    rows = found["results"] if isinstance(found, dict) else found
    [row] = [r for r in rows if r["phone_number"] == user.phone]
    assert row["is_verified"] is True


def test_someone_elses_contact_is_refused_and_links_nothing(system, user, admin):
    user.say("/start")
    user.wait_for_count(1)
    user.share_contact(contact_user_id=user.id + 1)
    refused = user.wait_for_count(2)[-1]
    assert "your own contact" in refused["text"]
    found = admin.get("/api/admin/users/", params={"search": user.phone}).json()
    rows = found["results"] if isinstance(found, dict) else found
    assert not [r for r in rows if r["phone_number"] == user.phone]
    user.say("hello")  # not linked: asked to link, nothing sent to any session
    assert "/start" in user.wait_for_count(3)[-1]["text"]


# ---- conversation ----------------------------------------------------------------------------------

def test_a_reply_streams_in_edits_and_ends_as_the_stored_reply(system, account):
    user = linked_user(system, account)
    before = len(user.messages())
    user.say("Tell me something" + STREAMED)
    reply = user.wait(lambda ms: ms[-1] if len(ms) > before and finished(ms[-1]) else None)
    stored = last_reply(account)
    assert reply["text"] == to_html(stored["content"])  # the last edit is exactly the stored reply
    assert reply["edits"] >= 2  # it streamed: intermediate versions, then the final one
    partials = reply["versions"][1:-1]
    assert partials and all(to_html(stored["content"]).startswith(p.rstrip()) or len(p) < len(reply["text"])
                            for p in partials)
    # Edits were at least the configured interval apart (Telegram's edit rate limit).
    gaps = [b - a for a, b in zip(reply["edited_at"], reply["edited_at"][1:], strict=False)]
    assert all(gap >= 0.25 for gap in gaps[:-1]), gaps


def test_the_same_update_delivered_twice_sends_once(system, account):
    user = linked_user(system, account)
    before = len(user.messages())
    posted = user.say("Only once please")
    user.wait(lambda ms: ms[-1] if len(ms) > before and finished(ms[-1]) else None)
    count = len(user.messages())
    httpx.post(f"{system.telegram_url}/emulator/updates/{posted['update_id']}/redeliver").raise_for_status()
    user.say("/usage")  # a later update: once it is answered, the redelivery was long handled
    user.wait_for_count(count + 1)
    time.sleep(0.5)
    assert len(user.messages()) == count + 1
    sessions = account.get("/api/chat-sessions/").json()
    messages = account.get(f"/api/chat-sessions/{sessions[0]['id']}/messages/").json()["messages"]
    assert [m["content"] for m in messages if m["message_type"] == "user"] == ["Only once please"]


def test_regenerate_and_edit_make_new_replies(system, account, admin):
    user = linked_user(system, account, admin=admin)
    before = len(user.messages())
    sent = user.say("First question")
    first = user.wait(lambda ms: ms[-1] if len(ms) > before and finished(ms[-1]) else None)
    user.press(first["message_id"], first["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    second = user.wait(lambda ms: ms[-1] if ms[-1]["message_id"] > first["message_id"] and finished(ms[-1]) else None)
    assert second["text"] == to_html(last_reply(account)["content"])
    user.edit(sent["message_id"], "Edited question")
    third = user.wait(lambda ms: ms[-1] if ms[-1]["message_id"] > second["message_id"] and finished(ms[-1]) else None)
    stored = last_reply(account)
    assert "Edited question" in stored["content"]
    assert third["text"] == to_html(stored["content"])
    sessions = account.get("/api/chat-sessions/").json()
    messages = account.get(f"/api/chat-sessions/{sessions[0]['id']}/messages/").json()["messages"]
    assert [m["content"] for m in messages if m["message_type"] == "user"] == ["Edited question"]


def test_stop_keeps_what_was_written(system, account):
    user = linked_user(system, account)
    before = len(user.messages())
    user.say("A long one [[reply:words=400 delay=0.05]]")
    streaming = user.wait(lambda ms: ms[-1] if len(ms) > before and ms[-1]["edits"] >= 1 else None)
    assert streaming["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith("stop:")
    user.press(streaming["message_id"], streaming["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    reply = user.wait(lambda ms: ms[-1] if finished(ms[-1]) else None)
    stored = last_reply(account)
    assert stored["finish_reason"] == "stopped"
    assert reply["text"] == to_html(stored["content"])
    assert len(stored["content"].split()) < 400


def test_a_429_from_telegram_is_waited_out(system, account):
    user = linked_user(system, account)
    before = len(user.messages())
    httpx.post(f"{system.telegram_url}/emulator/failures",
               json={"method": "sendMessage", "retry_after": 2, "times": 1}).raise_for_status()
    user.say("/usage")
    user.wait_for_count(before + 1)
    calls = httpx.get(f"{system.telegram_url}/emulator/calls", params={"method": "sendMessage"}).json()
    refused = [i for i, c in enumerate(calls) if c.get("refused")]
    assert refused
    retried = calls[refused[-1] + 1]
    assert retried["at"] - calls[refused[-1]]["at"] >= 2  # retry_after honoured, then sent


# ---- limits and languages --------------------------------------------------------------------------

def test_the_free_plan_limit_is_a_localized_denial_in_persian(system, account):
    user = linked_user(system, account, language="fa")
    for text in ("یک", "دو"):
        before = len(user.messages())
        user.say(text)
        user.wait(lambda ms, b=before: ms[-1] if len(ms) > b and finished(ms[-1]) else None)
    before = len(user.messages())
    user.say("سه")
    denial = user.wait_for_count(before + 1)[-1]
    assert not finished(denial)
    # The API's own Persian text for that limit, as the same user gets it from the API.
    session_id = account.get("/api/chat-sessions/").json()[0]["id"]
    refused = account.post(f"/api/chat-sessions/{session_id}/send/", json={"message": "چهار"},
                           headers={"Accept-Language": "fa"})
    assert refused.status_code == 429 and refused.json()["limit"]["name"] == "hourly_messages"
    assert denial["text"] == refused.json()["error"]


def test_lang_switches_the_menus(system, account):
    user = linked_user(system, account, language="en")
    before = len(user.messages())
    user.say("/lang")
    menu = user.wait_for_count(before + 1)[-1]
    user.press(menu["message_id"], "lang:fa")
    assert user.wait_for_count(before + 2)[-1]["text"] == "زبان: فارسی."
    user.say("/usage")
    assert "محدودیت" in user.wait_for_count(before + 3)[-1]["text"]


def test_new_offers_only_what_the_plan_allows_and_starts_that_chat(system, account):
    user = linked_user(system, account)
    allowed = account.get("/api/chatbots/").json()
    before = len(user.messages())
    user.say("/new")
    menu = user.wait_for_count(before + 1)[-1]
    offered = [row[0]["text"] for row in menu["reply_markup"]["inline_keyboard"]]
    assert offered == [c["name"] for c in allowed]
    user.press(menu["message_id"], menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    models = user.wait_for_count(before + 2)[-1]
    user.press(models["message_id"], models["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    started = user.wait_for_count(before + 3)[-1]
    sessions = account.get("/api/chat-sessions/").json()
    assert sessions[0]["chatbot"]["name"] in started["text"]


def test_a_long_reply_is_split_into_messages_that_together_are_the_stored_reply(system, account, admin):
    user = linked_user(system, account, admin=admin)
    before = len(user.messages())
    user.say("Write a lot [[reply:words=1500 delay=0]]")
    user.wait(lambda ms: ms[-1] if len(ms) > before + 1 and finished(ms[-1]) else None)
    parts = user.messages()[before:]
    stored = last_reply(account)
    assert len(stored["content"]) > 4096
    assert [p["text"] for p in parts] == render_parts(stored["content"])
    assert all(len(p["text"]) <= 4096 for p in parts)
    assert [finished(p) for p in parts] == [False] * (len(parts) - 1) + [True]  # buttons only under the last


def test_an_image_reply_arrives_as_a_photo(system, account, admin):
    user = linked_user(system, account, admin=admin)
    image_bots = [c for c in account.get("/api/chatbots/").json() if c["chatbot_type"] == "image"]
    assert image_bots, "Premium allows an image chatbot"
    before = len(user.messages())
    user.say("/new")
    menu = user.wait_for_count(before + 1)[-1]
    [data] = [row[0]["callback_data"] for row in menu["reply_markup"]["inline_keyboard"]
              if row[0]["text"] == image_bots[0]["name"]]
    user.press(menu["message_id"], data)
    models = user.wait_for_count(before + 2)[-1]
    user.press(models["message_id"], models["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    user.wait_for_count(before + 3)
    user.say("A cat on a roof")
    photo = user.wait(lambda ms: next((m for m in ms[before + 3:] if m["kind"] == "photo"), None))
    assert photo["photo"].startswith("upload:")  # the bot fetched the image and uploaded it
    assert int(photo["photo"].rsplit(":", 1)[1]) > 0
    assert last_reply(account)["image_url"]


def test_chats_switches_the_session_and_plan_links_to_the_web_app(system, account, admin):
    user = linked_user(system, account, admin=admin)
    for text in ("In the first chat", "/new"):
        before = len(user.messages())
        user.say(text)
        user.wait(lambda ms, b=before: ms[-1] if len(ms) > b and (finished(ms[-1]) or ms[-1]["reply_markup"]) else None)
    menu = user.messages()[-1]
    user.press(menu["message_id"], menu["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    models = user.wait_for_count(len(user.messages()) + 1)[-1]
    user.press(models["message_id"], models["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    user.wait_for_count(len(user.messages()) + 1)
    first, second = sorted(s["id"] for s in account.get("/api/chat-sessions/").json())
    before = len(user.messages())
    user.say("/chats")
    chats = user.wait_for_count(before + 1)[-1]
    [data] = [row[0]["callback_data"] for row in chats["reply_markup"]["inline_keyboard"]
              if row[0]["callback_data"] == f"chat:{first}"]
    user.press(chats["message_id"], data)
    user.wait_for_count(before + 2)
    user.say("Back in the first chat")
    user.wait(lambda ms: ms[-1] if len(ms) > before + 2 and finished(ms[-1]) else None)
    contents = [m["content"] for m in account.get(f"/api/chat-sessions/{first}/messages/").json()["messages"]
                if m["message_type"] == "user"]
    assert contents == ["In the first chat", "Back in the first chat"]
    assert account.get(f"/api/chat-sessions/{second}/messages/").json()["messages"] == []
    before = len(user.messages())
    user.say("/plan")
    plan = user.wait_for_count(before + 1)[-1]
    assert account.get("/api/users/subscription/").json()["subscription_type"]["name"] in plan["text"]


def test_the_webhook_refuses_updates_without_telegrams_secret(system, user):
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": user.id, "type": "private"},
                                          "from": {"id": user.id, "is_bot": False, "first_name": "X"}, "text": "/start"}}
    url = f"http://127.0.0.1:{system.ports['telegram-bot']}/telegram/webhook"
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
        assert httpx.post(url, json=update, headers=headers).status_code == 401
    time.sleep(0.5)
    assert user.messages() == []
