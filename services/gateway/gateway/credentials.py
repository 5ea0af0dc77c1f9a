"""Ending a user's credentials: the one place that knows every way a user can be logged in.

A password change (and anything else that must cut off whoever else holds the account) calls
`end_other_credentials`, so no caller needs to know the list: login sessions and API tokens.
"""

from gateway.runtime import Runtime


async def end_other_credentials(rt: Runtime, user_id: int, keep_session: str | None) -> None:
    """Every login session of `user_id` ends except the caller's own (`keep_session`, its cookie),
    and every API token of the user is revoked (api.md §2: tokens die with a password change)."""
    await rt.tokens.revoke_all(user_id)
    await rt.sessions.destroy_others(user_id, keep_session)
