"""The OpenRouter emulator served in-process on a free port, with fast streaming."""

import httpx
import pytest
from openrouter_emulator.server import EmulatorServer

KEY = {"Authorization": "Bearer test-key"}


@pytest.fixture(scope="session")
def emulator():
    with EmulatorServer(chunk_delay_seconds=0.001, first_token_delay_seconds=0) as server:
        yield server


@pytest.fixture
async def http(emulator):
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY, timeout=20) as client:
        await client.delete("/_emulator/faults")
        yield client
