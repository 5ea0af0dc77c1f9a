"""Server-sent events: turn a stream of lines into the `data` payload of each event."""

from collections.abc import AsyncIterable, AsyncIterator


async def iter_sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """Yield each event's data (multi-line data joined by newlines); comment lines are skipped."""
    data: list[str] = []
    async for line in lines:
        if not line:  # a blank line ends the event
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):  # comments such as ": OPENROUTER PROCESSING" are keep-alives
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:  # a last event without its blank line still counts
        yield "\n".join(data)
