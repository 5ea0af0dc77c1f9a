"""A small Server-Sent Events reader for tests (reads `id`, `event`, `data` fields)."""

import json
import threading
from collections.abc import Iterator

import httpx


def parse_events(lines: Iterator[str]) -> Iterator[dict]:
    event: dict = {}
    for line in lines:
        if not line:
            if "event" in event or "data" in event:
                if "data" in event:
                    try:
                        event["data"] = json.loads(event["data"])
                    except ValueError:
                        pass
                yield event
            event = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        event[field] = event.get(field, "") + ("\n" if field == "data" and field in event else "") + value


class EventCollector:
    """Reads a session's stream in a background thread until `until(event)` is true."""

    def __init__(self, client: httpx.Client, url: str, headers: dict | None = None, until=None) -> None:  # noqa: ANN001
        self.events: list[dict] = []
        self.done = threading.Event()
        self.status: int | None = None
        self._client, self._url, self._headers = client, url, headers or {}
        self._until = until or (lambda e: e.get("event") in {"reply.completed", "reply.failed"})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.connected = threading.Event()

    def start(self) -> "EventCollector":
        self._thread.start()
        assert self.connected.wait(10), "stream did not connect"
        return self

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self._url, headers=self._headers, timeout=30) as response:
                self.status = response.status_code
                self.connected.set()
                if response.status_code != 200:
                    return
                for event in parse_events(response.iter_lines()):
                    self.events.append(event)
                    if self._until(event):
                        return
        except httpx.HTTPError:
            pass
        finally:
            self.connected.set()
            self.done.set()

    def wait(self, timeout: float = 30) -> list[dict]:
        assert self.done.wait(timeout), f"stream did not finish; got {[e.get('event') for e in self.events]}"
        return self.events
