"""`python -m bench.chat_send [N]`: chat's own CPU per send, in process: N sends through
`ChatService.run_exchange` on a fresh SQLite database, with billing's admission stood in by an
instant answer, each reply completed before the session's next send. No broker and no other
service: the figure is the claim, prompt build and store steps alone, steady under a busy machine
(CPU time, not wall time)."""

import asyncio
import sys
import tempfile
import time
from uuid import uuid4

from chat.models import ChatTable, Outbox
from chat.seed import FREE, seed_catalog
from chat.service import ChatService
from chat.settings import ChatSettings
from sqlmodel import delete

from shared.clock import FrozenClock
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.contracts.llm import ReplyCompleted, Usage
from shared.db import create_schema, make_engine, make_session_factory, transaction

SESSIONS = 20


class InstantBilling:
    async def admit(self, request: b.AdmitExchange) -> b.Admission:
        return b.Admission(exchange_id=request.exchange_id, max_tokens=100)


async def measure(sends: int) -> float:
    """Chat's CPU milliseconds per send."""
    settings = ChatSettings(CHAT_DATABASE_URL=f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/chat.db")
    engine = make_engine(settings.database_url)
    await create_schema(engine, ChatTable.metadata)
    factory = make_session_factory(engine)
    async with transaction(factory) as s:
        await seed_catalog(s)
    service = ChatService(factory, settings, FrozenClock(), billing=InstantBilling())
    sessions = [await service.create_session(c.CreateSession(user_id=1, plan_id=FREE, chatbot_id=1))
                for _ in range(SESSIONS)]
    cpu = 0.0
    for i in range(sends):
        session_id = sessions[i % SESSIONS].id
        request = c.RunExchange(user_id=1, plan_id=FREE, session_id=session_id, exchange_id=uuid4(),
                                content=f"message {i} " * 20)
        started = time.process_time()
        await service.run_exchange(request)
        cpu += time.process_time() - started
        # the reply, so the session takes the next send and the history grows as in a conversation
        await service.on_reply_completed(ReplyCompleted(
            exchange_id=request.exchange_id, session_id=session_id, user_id=1, model="m", content="a reply " * 30,
            usage=Usage(prompt_tokens=10, completion_tokens=30, total_tokens=40)))
        async with transaction(factory) as s:  # the relay's part: keep the outbox empty
            await s.exec(delete(Outbox))
    await engine.dispose()
    return cpu / sends * 1000


def main(argv: list[str]) -> None:
    sends = int(argv[0]) if argv else 300
    print(f"chat CPU per send, in process: {asyncio.run(measure(sends)):.2f} ms ({sends} sends)")


if __name__ == "__main__":
    main(sys.argv[1:])
