"""Bench users through the public and admin APIs: plans created by staff, registered users on them,
and chat sessions to spread the load over (a session allows one reply in progress)."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from devinfra.system import ADMIN_PASSWORD, ADMIN_PHONE, read_code, sms_url_for

from bench.client import Client

T = TypeVar("T")
GENERAL_ASSISTANT = 1  # seeded public chatbot on a free model: usable on any plan
LIMIT_FIELDS = (
    "max_tokens", "max_tokens_free", "max_openrouter_cost_usd",
    *(f"{w}_max_{kind}" for w in ("hourly", "three_hours", "twelve_hours", "daily", "weekly", "monthly")
      for kind in ("messages", "tokens")),
    "monthly_free_model_messages", "monthly_free_model_tokens",
    "daily_image_generation_limit", "weekly_image_generation_limit", "monthly_image_generation_limit",
)
_phones = itertools.count(1)


@dataclass
class BenchUser:
    client: Client
    id: int
    sessions: list[int] = field(default_factory=list)


async def bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the jobs concurrently, at most `limit` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def staff(base_url: str) -> Client:
    admin = Client(base_url)
    await admin.expect("POST", "/api/auth/login/", 200, json={"phone_number": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    return admin


async def create_plan(admin: Client, name: str, sku: str, **limits: int) -> int:
    """A plan where every limit is 0 (unlimited) except those given."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"not plan limits: {sorted(unknown)}")
    body = {"name": name, "sku": sku, "price": "0", "duration_days": 30, "is_active": True,
            **{f: 0 for f in LIMIT_FIELDS}, **limits}
    body["max_openrouter_cost_usd"] = str(body["max_openrouter_cost_usd"])
    plan = await admin.expect("POST", "/api/admin/subscription-types/", 201, json=body)
    return plan["id"]


async def register(base_url: str, admin: Client, plan_id: int) -> BenchUser:
    client = Client(base_url)
    phone = f"+98912{next(_phones):07d}"
    pending = await client.expect("POST", "/api/auth/register/", 202,
                                  json={"phone_number": phone, "name": "Bench User", "password": "bench password 1"})
    # The phone is proved with the code the system's SMS emulator received.
    code = await asyncio.to_thread(read_code, sms_url_for(base_url), phone)
    user = await client.expect("POST", "/api/auth/otp/verify/", 200, json={
        "phone_number": phone, "code": code, "registration_id": pending["registration_id"],
    })
    await admin.expect("POST", f"/api/admin/users/{user['id']}/subscription/", 200,
                       json={"subscription_type_id": plan_id})
    return BenchUser(client, user["id"])


async def open_sessions(user: BenchUser, count: int, limit: int = 8) -> None:
    async def one() -> int:
        session = await user.client.expect("POST", "/api/chat-sessions/", 201, json={"chatbot_id": GENERAL_ASSISTANT})
        return session["id"]

    user.sessions.extend(await bounded([one] * count, limit))


async def populate(base_url: str, admin: Client, plan_id: int, users: int, sessions_each: int) -> list[BenchUser]:
    # Registration hashes a password (Argon2): a few at a time is as fast as the gateway allows.
    created = await bounded([lambda: register(base_url, admin, plan_id)] * users, 4)
    await bounded([lambda u=u: open_sessions(u, sessions_each, 4) for u in created], 4)
    return created
