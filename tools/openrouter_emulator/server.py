"""Run the emulator in a background thread (tests, benchmarks): `with EmulatorServer() as emu: emu.base_url`."""

import socket
import threading
import time
from typing import Self

import uvicorn

from openrouter_emulator.app import create_app
from openrouter_emulator.settings import EmulatorSettings


class EmulatorServer:
    def __init__(self, settings: EmulatorSettings | None = None, **overrides: object) -> None:
        base = settings or EmulatorSettings()
        self.settings = base.model_copy(update=overrides) if overrides else base
        self.app = create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/v1"

    def start(self, timeout: float = 15.0) -> Self:
        # Bind here (port 0 = any free port) and hand the socket over: no race for the port.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="openrouter-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OpenRouter emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
