"""The OpenRouter emulator fixture the emulator's and the llm-worker's tests share: each conftest binds
it to its own name (`emulator = emulator_fixture.emulator`), so each directory still gets a server of
its own."""

import pytest
from openrouter_emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def emulator():
    """The emulator served in-process on a free port, streaming fast (no first-token delay)."""
    with EmulatorServer(chunk_delay_seconds=0.001, first_token_delay_seconds=0) as server:
        yield server
