"""docs/clients.md ("Build a client") runs as written: its Python example (httpx + httpx-sse) and its
TypeScript example (Node 20 fetch, run with tsx from tools/node) log in for a token, open the stream,
send with an Idempotency-Key and print the reply, which must be the assistant message the system
stored. The code is read from the page itself, so the page cannot drift from what works."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api import Api

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "clients.md"
NODE_TOOLS = ROOT / "tools" / "node"
PASSWORD = "client docs password"


def example(language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, f"docs/clients.md has {len(blocks)} ```{language} blocks"
    return blocks[0]


@pytest.fixture
def user(system) -> tuple[Api, dict]:
    """A new user made by the test helpers (never by calling register here)."""
    client = Api(system.gateway_url)
    return client, client.register(password=PASSWORD)


def run(command: list[str], system, user: dict, cwd: Path) -> dict:
    env = {**os.environ, "MOBIX_API": system.gateway_url, "MOBIX_PHONE": user["phone_number"],
           "MOBIX_PASSWORD": PASSWORD}
    result = subprocess.run(command, cwd=cwd, env=env, check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def check(printed: dict, client: Api) -> None:
    messages = client.get(f"/api/chat-sessions/{printed['session_id']}/messages/").json()["messages"]
    assert [m["message_type"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Hello!"
    assert printed["reply"] == messages[1]["content"] and printed["reply"]
    assert re.fullmatch(r"\d+-\d+", printed["last_event_id"])


@pytest.mark.timeout(600)
def test_the_python_example_runs(system, user, tmp_path):
    client, account = user
    script = tmp_path / "example.py"
    script.write_text(example("python"), encoding="utf-8")
    check(run([sys.executable, str(script)], system, account, tmp_path), client)


@pytest.mark.timeout(900)
def test_the_typescript_example_runs(system, user, tmp_path):
    client, account = user
    tsx = NODE_TOOLS / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed (apt-get install nodejs npm): the TypeScript example cannot run")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_TOOLS, check=True, timeout=900,
                       capture_output=True)
    # An .mts file: top-level await, as in an ES module.
    script = tmp_path / "example.mts"
    script.write_text(example("ts"), encoding="utf-8")
    check(run([str(tsx), str(script)], system, account, tmp_path), client)
