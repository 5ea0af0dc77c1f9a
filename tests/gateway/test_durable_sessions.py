"""Login sessions survive a Redis loss (api.md §2): the gateway's database holds them, Redis a copy."""

import hashlib

from tests.gateway.support import client_for, csrf, register


def session_key(cookie_value: str) -> str:
    return "mobix:gw:session:" + hashlib.sha256(cookie_value.encode()).hexdigest()


async def test_a_signed_in_browser_stays_signed_in_when_redis_loses_its_data(gateway, phones, redis):
    async with client_for(gateway) as http:
        await register(http, phones())
        key = session_key(http.cookies["sessionid"])
        await redis.delete(key)  # what a Redis restart without persistence does to every session
        assert (await http.get("/api/users/")).status_code == 200
        assert await redis.exists(key) == 1  # copied back from the database
        await redis.delete(key)
        # The CSRF token is part of the durable session too: unsafe requests still pass.
        created = await http.post("/api/auth/logout/", headers=csrf(http))
        assert created.status_code == 200, created.text


async def test_logout_ends_the_session_for_good(gateway, phones, redis):
    async with client_for(gateway) as http:
        await register(http, phones())
        cookie = http.cookies["sessionid"]
        assert (await http.post("/api/auth/logout/", headers=csrf(http))).status_code == 200
        await redis.delete(session_key(cookie))
        http.cookies.set("sessionid", cookie)  # a copy of the old cookie, replayed
        assert (await http.get("/api/users/")).status_code == 401
