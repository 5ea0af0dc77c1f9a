"""`GET /api/chat-session-usages/?page=` pages in billing's database: walking the pages yields every
row of the user exactly once, in the list's order, with the count of all of them."""

import random
from datetime import timedelta

import pytest
from billing.models import SessionUsage

from shared.contracts import billing as b
from shared.db import transaction
from tests.billing.conftest import START


@pytest.mark.parametrize("size", [1, 7, 53, 100])
async def test_pages_walk_every_row_once(env, size):
    user, other = random.randint(10**6, 10**9), random.randint(10**6, 10**9)
    async with transaction(env.factory) as s:
        for n in range(53):
            # Some rows share an updated_at: the order (updated_at DESC, id DESC) must still be total.
            moment = START + timedelta(seconds=n // 3)
            s.add(SessionUsage(user_id=user, session_id=1000 + n, tokens_count=n, created_at=START, updated_at=moment))
        s.add(SessionUsage(user_id=other, session_id=1, created_at=START, updated_at=START))
    whole = await env.service.session_usages(b.UserQuery(user_id=user))
    walked, offset = [], 0
    while True:
        page = await env.service.session_usage_page(b.SessionUsagesPageQuery(user_id=user, offset=offset, limit=size))
        assert page.count == 53
        walked += page.items
        offset += size
        if offset >= page.count:
            break
    assert [r.id for r in walked] == [r.id for r in whole]
    assert len({r.session_id for r in walked}) == 53
    beyond = await env.service.session_usage_page(b.SessionUsagesPageQuery(user_id=user, offset=60, limit=size))
    assert beyond.count == 53 and beyond.items == []
