"""The OpenRouter emulator served in-process on a free port, with fast streaming."""

import httpx
import pytest

from tests.support import emulator_fixture

emulator = emulator_fixture.emulator  # a server per directory that imports it

KEY = {"Authorization": "Bearer test-key"}


@pytest.fixture
async def http(emulator):
    async with httpx.AsyncClient(base_url=emulator.url, headers=KEY, timeout=20) as client:
        await client.delete("/_emulator/faults")
        yield client
