"""Reply-completion accounting: polls sessions until no reply is queued or streaming, and reads when the
last assistant message was stored (its `created_at`), so the end-to-end time does not depend on polling."""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.client import BenchError, Client
from bench.population import bounded

IN_PROGRESS = {"queued", "streaming"}


@dataclass
class SessionState:
    user_messages: int = 0
    completed: int = 0
    failed: int = 0
    in_progress: int = 0
    last_stored: datetime | None = None


@dataclass
class Settled:
    user_messages: int
    completed: int
    failed: int
    in_progress: int  # still unfinished when the deadline passed
    last_stored: datetime | None

    @property
    def done(self) -> bool:
        return self.in_progress == 0


def session_state(messages: Sequence[dict]) -> SessionState:
    state = SessionState()
    for message in messages:
        if message["message_type"] == "user":
            state.user_messages += 1
            status = message.get("reply_status")
            state.completed += status == "completed"
            state.failed += status == "failed"
            state.in_progress += status in IN_PROGRESS
        else:
            stored = datetime.fromisoformat(message["created_at"])
            state.last_stored = max(filter(None, (state.last_stored, stored)))
    return state


def combine(states: Sequence[SessionState]) -> Settled:
    stored = [s.last_stored for s in states if s.last_stored is not None]
    return Settled(
        user_messages=sum(s.user_messages for s in states),
        completed=sum(s.completed for s in states),
        failed=sum(s.failed for s in states),
        in_progress=sum(s.in_progress for s in states),
        last_stored=max(stored) if stored else None,
    )


async def wait_settled(sessions: Sequence[tuple[Client, int]], timeout_s: float, pause_s: float = 0.5) -> Settled:
    """Every session's final state, or where they stood at the deadline. A settled session is not
    polled again: no new sends reach it while the benchmark waits."""

    async def read(client: Client, session_id: int) -> SessionState:
        response = await client.request("GET", f"/api/chat-sessions/{session_id}/messages/")
        if response.status_code != 200:
            raise BenchError(f"messages of session {session_id}: {response.status_code} {response.text[:300]}")
        return session_state(response.json()["messages"])

    states: dict[int, SessionState] = {}
    pending = list(range(len(sessions)))
    deadline = time.monotonic() + timeout_s
    while True:
        fresh = await bounded([lambda i=i: read(*sessions[i]) for i in pending], 8)
        for i, state in zip(pending, fresh, strict=True):
            states[i] = state
        pending = [i for i in pending if states[i].in_progress]
        if not pending or time.monotonic() > deadline:
            return combine(list(states.values()))
        await asyncio.sleep(pause_s)
