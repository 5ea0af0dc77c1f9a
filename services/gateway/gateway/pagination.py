"""The `?page=` rule of api.md §1: a plain array unless `page` is given, then an envelope."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gateway.hosts import public_url

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageParams:
    page: int | None
    size: int

    @property
    def offset(self) -> int:
        return ((self.page or 1) - 1) * self.size


# A coroutine, so FastAPI calls it in the event loop: a plain class or function dependency would be
# sent to the thread pool on every request.
async def page_params(
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="Page number; returns an envelope")] = None,
    page_size: Annotated[int, Query(ge=1, le=1_000_000, description="Items per page (clamped to 100)")] = 20,
) -> PageParams:
    return PageParams(page, min(page_size, MAX_PAGE_SIZE))


Pages = Annotated[PageParams, Depends(page_params)]


def envelope(request: Request, params: PageParams, count: int, results: list[Any]) -> dict[str, Any]:
    page = params.page or 1
    last = (count + params.size - 1) // params.size

    def link(number: int) -> str:
        return str(public_url(request).include_query_params(page=number, page_size=params.size))

    return {
        "count": count,
        "next": link(page + 1) if page < last else None,
        "previous": link(page - 1) if page > 1 and count else None,
        "results": results,
    }


async def paged_list(
    request: Request, params: PageParams, fetch_all: Callable[[], Awaitable[list[Any]]]
) -> list[Any] | dict[str, Any]:
    """For small lists fetched whole (catalog): slice in the gateway."""
    items = await fetch_all()
    if params.page is None:
        return items
    return envelope(request, params, len(items), items[params.offset : params.offset + params.size])
