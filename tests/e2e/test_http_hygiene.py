"""The public port against a real gateway process (api.md §2, §5): slow and oversized requests over raw
sockets, X-Forwarded-For from an untrusted peer, and event streams that stay open, ping, survive a
slow model and start at the reply in progress. The system runs with short timeouts and pings."""

import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis
from devinfra.system import System, fresh_vhost

from tests.support.api import Api, new_phone
from tests.support.sse import EventCollector

REDIS_DB = 13
SHORT = {"STREAM_PING_SECONDS": "1", "HEADER_READ_TIMEOUT_SECONDS": "1", "BODY_IDLE_TIMEOUT_SECONDS": "1"}
PATIENCE = 15  # how long a test waits for the gateway to act on a one-second setting


@pytest.fixture(scope="module")
def own_system(infra, tmp_path_factory):
    rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_hygiene")
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path=f"/{REDIS_DB}"))
    redis.Redis.from_url(redis_url).flushdb()
    running = System(Path(tmp_path_factory.mktemp("hygiene")), rabbit_url, redis_url, extra_env=SHORT)
    try:
        running.start_all()
    except RuntimeError:
        running.stop_all()
        raise
    yield running
    running.stop_all()


@pytest.fixture
def store(own_system):
    client = redis.Redis.from_url(own_system.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def user(own_system) -> Api:
    client = Api(own_system.gateway_url)
    client.register()
    return client


def connect(system: System) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", system.ports["gateway"]), timeout=PATIENCE)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the gateway closes the connection ("" when it closed without an answer)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


# --- header size and read timeouts ----------------------------------------------------------------


def test_headers_over_16_kib_are_431(own_system):
    with connect(own_system) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"x-content-type-options: nosniff" in answer.lower()


def test_two_mib_of_headers_are_refused_early(own_system):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    sent = 0
    with connect(own_system) as sock:
        try:
            sock.sendall(head)
            while sent < 2 * 1024 * 1024:
                sock.sendall(b"X-Filler-%d: %s\r\n" % (sent, b"b" * 8000))
                sent += 8000
            sock.sendall(b"\r\n")
            answer = read_all(sock)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""  # closed while we were still sending: refused without reading it all
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_headers_under_the_limit_are_served(own_system):
    response = httpx.get(f"{own_system.gateway_url}/healthz", headers={"X-Big": "a" * 15_000})
    assert response.status_code == 200


def test_a_client_that_stops_halfway_through_its_headers_is_disconnected(own_system):
    with connect(own_system) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert read_all(sock) == b""  # closed by the gateway (the socket timeout would raise instead)


def test_trickling_headers_does_not_restart_the_deadline(own_system):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"s" * 200
    with connect(own_system) as sock:
        deadline = time.monotonic() + PATIENCE
        closed = False
        for byte in head:
            if time.monotonic() > deadline:
                break
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.2)
        closed = closed or read_all(sock) == b""
    assert closed


def test_a_stalled_body_is_cut_off(own_system):
    with connect(own_system) as sock:
        sock.sendall(b"POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200\r\n\r\n{\"phone_number\": ")
        answer = read_all(sock)
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]


# --- the public port answers OPTIONS, HEAD and Host like the app says -----------------------------


def test_options_head_and_hosts_on_the_real_server(own_system):
    url = own_system.gateway_url
    options = httpx.options(f"{url}/api/chat-sessions/")
    assert options.status_code == 204 and options.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert httpx.head(f"{url}/healthz").status_code == 200
    foreign = httpx.get(f"{url}/api/chatbots/", headers={"Host": "evil.example"})
    assert foreign.status_code == 400 and foreign.json()["code"] == "host_not_allowed"
    assert foreign.headers["X-Content-Type-Options"] == "nosniff"


# --- client IP --------------------------------------------------------------------------------------


def test_a_forged_forwarded_for_does_not_escape_the_login_throttle(own_system, store):
    # The test connects from 127.0.0.1, which is no trusted proxy here (FORWARDED_ALLOW_IPS is unset).
    store.delete("mobix:gw:login-fail:ip:127.0.0.1")
    try:
        statuses = []
        with httpx.Client(base_url=own_system.gateway_url, timeout=30) as http:
            for i in range(51):
                forged = f"10.{i}.{uuid.uuid4().int % 250}.1"
                response = http.post("/api/auth/login/", headers={"X-Forwarded-For": forged},
                                     json={"phone_number": new_phone(), "password": f"guess {i}"})
                statuses.append(response.status_code)
        assert statuses == [401] * 50 + [429]
    finally:
        store.delete("mobix:gw:login-fail:ip:127.0.0.1")


# --- event streams ----------------------------------------------------------------------------------


def _session(api: Api) -> int:
    response = api.post("/api/chat-sessions/", json={"chatbot_id": 1, "auto_generate_title": False})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _send(api: Api, session_id: int, text: str) -> dict:
    response = api.post(f"/api/chat-sessions/{session_id}/send/", json={"message": text})
    assert response.status_code == 201, response.text
    return response.json()["user_message"]


class RawStream:
    """Reads a stream's raw lines in a thread, so a test can see what is sent and whether it ended."""

    def __init__(self, api: Api, session_id: int) -> None:
        self.lines: list[str] = []
        self.ended = threading.Event()
        self.status: int | None = None
        self._stop = False
        self._http = httpx.Client(base_url=str(api.http.base_url), cookies=api.http.cookies, timeout=PATIENCE)
        self.session_id = session_id
        self._url = f"/api/chat-sessions/{session_id}/stream/"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._http.stream("GET", self._url) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    self.lines.append(line)
                    if self._stop:
                        return
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def close(self) -> None:
        self._stop = True
        self._http.close()


def test_an_idle_stream_stays_open_and_is_pinged_until_its_session_or_login_ends(own_system, user):
    first, second = RawStream(user, _session(user)), RawStream(user, _session(user))
    try:
        # Past the old 5-second death, both still open, each started with a retry line and pinged.
        assert not first.ended.wait(7), f"the stream ended: {first.lines}"
        for stream in (first, second):
            assert not stream.ended.is_set() and stream.status == 200
            assert stream.lines[0] == "retry: 3000"
            assert stream.lines.count(": ping") >= 3, stream.lines
        assert user.delete(f"/api/chat-sessions/{first.session_id}/").status_code == 200
        assert first.ended.wait(PATIENCE), first.lines
        assert not second.ended.is_set()  # only the deleted session's stream
        assert user.post("/api/auth/logout/").status_code == 200
        assert second.ended.wait(PATIENCE), second.lines
    finally:
        first.close()
        second.close()


def test_a_model_slow_to_its_first_token_still_streams_the_reply(own_system, user):
    session_id = _session(user)
    collector = EventCollector(user.http, f"/api/chat-sessions/{session_id}/stream/").start()
    time.sleep(0.3)
    sent = _send(user, session_id, "[[fault:slow_first_token=7]] Take your time.")
    events = collector.wait(60)
    names = [e["event"] for e in events]
    assert names[0] == "reply.queued" and names[-1] == "reply.completed", names
    assert events[0]["data"]["user_message"]["message_id"] == sent["message_id"]


def test_connecting_just_after_send_gets_every_delta_from_the_first(own_system, user, store):
    session_id = _session(user)
    _send(user, session_id, "[[reply:words=40 delay=0.1]] Tell me a long story.")
    deadline = time.monotonic() + PATIENCE
    while store.xlen(f"mobix:stream:{session_id}") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # the queued event and a few deltas are out before the client connects
    assert store.xlen(f"mobix:stream:{session_id}") >= 4
    events = EventCollector(user.http, f"/api/chat-sessions/{session_id}/stream/").start().wait(60)
    names = [e["event"] for e in events]
    assert names[0] == "reply.queued" and names[-1] == "reply.completed", names
    deltas = [e["data"]["delta"] for e in events if e["event"] == "reply.delta"]
    assert "".join(deltas) == events[-1]["data"]["content"]
