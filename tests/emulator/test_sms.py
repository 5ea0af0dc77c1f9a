"""The SMS emulator speaks Kavenegar's REST API, and the gateway's Kavenegar provider talks to it the
way it talks to Kavenegar in production: codes arrive, refusals and outages raise `SmsFailed`."""

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from gateway.sms import KavenegarSmsProvider, SmsFailed, make_sms_provider
from sms_emulator.app import create_app
from sms_emulator.settings import SmsEmulatorSettings

KEY = "test-key"


@pytest.fixture(scope="module")
def sms_url():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(SmsEmulatorSettings(api_key=KEY))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the SMS emulator did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def provider(sms_url):
    httpx.delete(f"{sms_url}/messages")
    return KavenegarSmsProvider(sms_url, KEY, "mobixai-login", timeout_seconds=5)


def messages(sms_url: str, phone: str | None = None) -> list[dict]:
    return httpx.get(f"{sms_url}/messages", params={"phone": phone} if phone else None).json()


async def test_a_code_sent_through_the_provider_is_listed_by_phone_oldest_first(provider, sms_url):
    await provider.send_code("+989121234567", "123456")
    await provider.send_code("+989351112233", "000001")
    await provider.send_code("+989121234567", "654321")
    mine = messages(sms_url, "+989121234567")
    assert [m["code"] for m in mine] == ["123456", "654321"]
    assert set(mine[0]) == {"phone", "text", "code", "sent_at"}
    assert mine[0]["phone"] == "+989121234567" and "123456" in mine[0]["text"]
    assert mine[0]["sent_at"].endswith("Z")
    assert len(messages(sms_url)) == 3


def test_the_emulator_answers_as_kavenegar_does(sms_url):
    response = httpx.post(f"{sms_url}/v1/{KEY}/verify/lookup.json",
                          data={"receptor": "09121234567", "token": "112233", "template": "t"})
    assert response.status_code == 200
    body = response.json()
    assert body["return"]["status"] == 200
    [entry] = body["entries"]
    assert entry["receptor"] == "989121234567" and entry["status"] == 5 and entry["messageid"]
    assert messages(sms_url, "+989121234567")[-1]["code"] == "112233"
    missing = httpx.post(f"{sms_url}/v1/{KEY}/verify/lookup.json", data={"receptor": "09121234567"})
    assert missing.status_code == 400 and missing.json()["return"]["status"] == 400


async def test_a_wrong_key_is_refused_and_raises(sms_url):
    with pytest.raises(SmsFailed, match="401"):
        await KavenegarSmsProvider(sms_url, "wrong-key", "mobixai-login").send_code("+989121234567", "123456")


async def test_a_gateway_error_raises_and_nothing_is_listed(provider, sms_url):
    async with httpx.AsyncClient() as http:
        await http.post(f"{sms_url}/control/fail", json={"count": 1})
    with pytest.raises(SmsFailed, match="500"):
        await provider.send_code("+989121234568", "123456")
    assert messages(sms_url, "+989121234568") == []
    await provider.send_code("+989121234568", "123457")  # only the next send failed
    assert [m["code"] for m in messages(sms_url, "+989121234568")] == ["123457"]


async def test_an_unreachable_gateway_raises():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(SmsFailed):
        await KavenegarSmsProvider(f"http://127.0.0.1:{port}", KEY, "t", timeout_seconds=2).send_code("+989121234567", "1")


def test_production_refuses_to_log_codes_or_to_send_without_a_key():
    for name, key in (("console", None), ("kavenegar", None)):
        with pytest.raises(SystemExit):
            make_sms_provider(name, base_url="https://api.kavenegar.com", api_key=key, template="t", production=True)
    assert isinstance(make_sms_provider("kavenegar", base_url="https://api.kavenegar.com", api_key="k", template="t",
                                        production=True), KavenegarSmsProvider)
