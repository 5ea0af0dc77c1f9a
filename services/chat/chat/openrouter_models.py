"""OpenRouter's model list (GET {base}/models), read for the catalog sync: the fields the catalog
keeps, converted to its units (USD per token strings → USD per million tokens)."""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from shared.errors import UpstreamFailed

log = logging.getLogger(__name__)
PER_MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class ListedModel:
    id: str
    name: str | None
    context_length: int | None
    prompt_usd_per_mtok: Decimal | None
    completion_usd_per_mtok: Decimal | None
    max_completion_tokens: int | None


def _per_mtok(raw: Any) -> Decimal | None:
    """OpenRouter prices are USD per token as strings; "-1" (a router's "varies") and junk are unknown."""
    try:
        price = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    return price * PER_MTOK if price.is_finite() and price >= 0 else None


def _whole(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else None


def parse(body: Any) -> list[ListedModel]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UpstreamFailed("OpenRouter's model list has no `data` array.")
    models = []
    for item in body["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        pricing = item.get("pricing") if isinstance(item.get("pricing"), dict) else {}
        top = item.get("top_provider") if isinstance(item.get("top_provider"), dict) else {}
        models.append(ListedModel(
            id=item["id"], name=item["name"] if isinstance(item.get("name"), str) else None,
            context_length=_whole(item.get("context_length")),
            prompt_usd_per_mtok=_per_mtok(pricing["prompt"]) if "prompt" in pricing else None,
            completion_usd_per_mtok=_per_mtok(pricing["completion"]) if "completion" in pricing else None,
            max_completion_tokens=_whole(top.get("max_completion_tokens")),
        ))
    return models


async def fetch_models(base_url: str, api_key: str | None, timeout_seconds: float) -> list[ListedModel]:
    """The list, or UpstreamFailed saying what went wrong (the console shows it)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout_seconds) as client:
            response = await client.get(f"{base_url.rstrip('/')}/models", headers=headers)
    except httpx.HTTPError as exc:
        log.warning("OpenRouter model list unreachable: %r", exc)
        raise UpstreamFailed(f"OpenRouter could not be reached ({type(exc).__name__}).") from exc
    if response.status_code != 200:
        raise UpstreamFailed(f"OpenRouter answered {response.status_code} to the model list.")
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamFailed("OpenRouter's model list is not JSON.") from exc
    return parse(body)
