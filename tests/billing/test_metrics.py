"""Billing's counters against real Redis: a denial is counted under the limit that denied it, and a
commit or release is counted once however often its event arrives."""

import itertools

import pytest
from prometheus_client import REGISTRY

from shared.errors import LimitExceeded

USERS = itertools.count(50_000)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_denial_counts_under_the_limit_that_denied(env):
    user = next(USERS)
    await env.subscribe(user, await env.plan(hourly_max_messages=1, monthly_free_model_messages=1))
    before = {
        "admitted": sample("mobix_admissions_total", outcome="admitted"),
        "denied": sample("mobix_admissions_total", outcome="denied"),
        "hourly": sample("mobix_denials_total", limit="hourly_messages"),
        "free": sample("mobix_denials_total", limit="monthly_free_model_messages"),
    }
    await env.complete(await env.admit(user, is_free_model=True), user)
    with pytest.raises(LimitExceeded) as denial:
        await env.admit(user, is_free_model=True)
    assert denial.value.details["limit"]["name"] == "hourly_messages"  # both fail: the first in rule order

    assert sample("mobix_admissions_total", outcome="admitted") == before["admitted"] + 1
    assert sample("mobix_admissions_total", outcome="denied") == before["denied"] + 1
    assert sample("mobix_denials_total", limit="hourly_messages") == before["hourly"] + 1
    assert sample("mobix_denials_total", limit="monthly_free_model_messages") == before["free"]


async def test_commits_and_releases_are_counted_once(env):
    user = next(USERS)
    await env.subscribe(user, await env.plan())
    committed = sample("mobix_reservations_total", outcome="committed")
    released = sample("mobix_reservations_total", outcome="released")

    admission = await env.admit(user)
    event = await env.complete(admission, user)
    await env.service.on_reply_completed(event)  # a redelivery bills nothing and counts nothing
    abandoned = await env.admit(user)
    await env.release(abandoned, user)
    await env.release(abandoned, user)

    assert sample("mobix_reservations_total", outcome="committed") == committed + 1
    assert sample("mobix_reservations_total", outcome="released") == released + 1
