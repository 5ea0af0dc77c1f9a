"""Oversized bodies (api.md §4): over 1 MiB is 413 on every POST/PUT/PATCH operation, whether the size is
declared (Content-Length) or only discovered while a chunked body streams in, logged in or not."""

import json

import pytest

from tests.api.harness import anonymous, fill, new_user, operations

LIMIT = 1024 * 1024
BIG = json.dumps({"message": "a" * (LIMIT + 1024), "title": "x", "name": "x"}).encode()


def chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.fixture
def writes(system):
    ids = {"session_id": 1, "message_id": "00000000-0000-4000-8000-000000000000", "item_id": 1, "plan_id": 1, "user_id": 1,
           "code_id": 1, "payment_id": "00000000-0000-4000-8000-000000000000"}
    found = [(method, fill(path, ids)) for method, path, _ in operations(system) if method in ("POST", "PUT", "PATCH")]
    assert len(found) >= 24  # 5 auth, 8 chat-session and 11 admin operations
    return found


def assert_413(response, what: str) -> None:
    assert response.status_code == 413, (what, response.status_code, response.text[:200])
    body = response.json()
    assert body["code"] == "validation_error" and body["fields"] == {} and "1 MiB" in body["error"], what


def test_a_declared_body_over_one_mib_is_413_everywhere(system, writes):
    logged_in = new_user(system)
    for method, url in writes:
        for client in (anonymous(system), logged_in):
            response = client.request(method, url, content=BIG, headers={"Content-Type": "application/json"})
            assert_413(response, f"{method} {url}")


def test_a_streamed_body_over_one_mib_is_413_everywhere(system, writes):
    logged_in = new_user(system)
    for method, url in writes:
        response = logged_in.request(method, url, content=chunks(BIG), headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers  # really chunked, size unknown up front
        assert_413(response, f"{method} {url} (chunked)")


def test_the_system_still_works_afterwards(system):
    # The refused bodies were not half-read into some state: the next request on a fresh client is fine.
    client = new_user(system)
    assert client.post("/api/chat-sessions/", json={"chatbot_id": 1}).status_code == 201
