"""The web app in a real browser (Debian's chromium, driven by Playwright) against the whole system
as real processes. Screenshots go to test-artifacts/webapp/ (gitignored)."""

import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis
from devinfra.system import System, fresh_vhost

from tests.api.harness import PREMIUM, Client, new_user
from tests.support.api import Api, staff_api

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "webapp"
AXE = ROOT / "webapp" / "node_modules" / "axe-core" / "axe.min.js"
REDIS_DB = 13
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def system(infra, tmp_path_factory):
    if not (ROOT / "webapp" / "dist" / "index.html").exists():
        pytest.fail("the web app is not built: run `make webapp` (make test does)")
    try:
        rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_browser")
    except (subprocess.SubprocessError, OSError):  # a busy broker's CLI: share the suite's test vhost
        rabbit_url = infra["rabbit_url"]
    redis_url = urlunparse(urlparse(infra["redis_url"])._replace(path=f"/{REDIS_DB}"))
    redis.Redis.from_url(redis_url).flushdb()
    # stripe: localstripe as `make run` starts it, for the card payment page (test_paying_by_card)
    running = System(tmp_path_factory.mktemp("system"), rabbit_url, redis_url, stripe=True,
                     extra_env={"WEBAPP_DIR": str(ROOT / "webapp" / "dist")})
    with running.running():
        yield running


@pytest.fixture(scope="session")
def admin(system) -> Api:
    return staff_api(system.gateway_url)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which async tests collected after these must not find.
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
        ])
        yield launched
        launched.close()


class Browsing:
    """Opens pages for the tests; every page fails its test on a script error or a CSP violation."""

    def __init__(self, browser, system: System) -> None:
        self.browser = browser
        self.system = system
        self.contexts = []
        self.problems: list[str] = []

    def page(self, client: Api | None = None, locale: str = "en-US", viewport: dict = DESKTOP, scheme: str = "light"):
        context = self.browser.new_context(base_url=self.system.gateway_url, locale=locale, viewport=viewport,
                                           color_scheme=scheme)
        context.set_default_timeout(20_000)
        self.contexts.append(context)
        if client is not None:
            context.add_cookies([{"name": c.name, "value": c.value, "url": self.system.gateway_url}
                                 for c in client.http.cookies.jar])
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and "Content Security Policy" in msg.text
                and self.problems.append(f"CSP: {msg.text}"))
        page.on("dialog", lambda dialog: (self.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser, system):
    opened = Browsing(browser, system)
    yield opened
    opened.close()
    assert opened.problems == []


@pytest.fixture
def premium(system, admin) -> Client:
    return new_user(system, plan=PREMIUM, admin=admin, name="Sara Ahmadi")


def sms_codes(system: System, phone: str) -> list[str]:
    """Codes the SMS emulator delivered to `phone` so far, oldest first."""
    messages = httpx.get(f"{system.sms_url}/messages", params={"phone": phone}, timeout=10).json()
    return [m["code"] for m in messages if m["code"]]


def wait_for_new_code(system: System, phone: str, seen: int, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = sms_codes(system, phone)
        if len(codes) > seen:
            return codes[-1]
        time.sleep(0.1)
    raise AssertionError(f"no new SMS code for {phone} within {timeout}s")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled")
    return path
