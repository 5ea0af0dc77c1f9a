"""Event-loop lag p99 of each service during a phase, read off the `mobix_event_loop_lag_seconds`
histogram every service exports on its metrics port (shared.loop_lag): scraped before and after the
phase, the difference holds that phase's samples only."""

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

METRIC = "mobix_event_loop_lag_seconds_bucket"
Buckets = dict[float, float]  # upper bound (seconds) -> cumulative count


def parse_buckets(exposition: str, metric: str = METRIC) -> Buckets:
    """The cumulative buckets of an unlabelled histogram in Prometheus' text format."""
    buckets: Buckets = {}
    for line in exposition.splitlines():
        if not line.startswith(metric + "{"):
            continue
        labels, _, value = line.rpartition(" ")
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets[math.inf if bound == "+Inf" else float(bound)] = float(value)
    return buckets


def difference(before: Buckets, after: Buckets) -> Buckets:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def quantile_bound(buckets: Buckets, q: float) -> float | None:
    """The upper bound of the bucket holding the q-quantile (0–1): the quantile is at most this.
    None without samples."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is outside 0–1")
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0
    if total <= 0:
        return None
    for bound, cumulative in ordered:
        if cumulative >= q * total:
            return bound
    return math.inf


def samples(buckets: Buckets) -> int:
    return int(max(buckets.values(), default=0))


def describe(bound: float | None, count: int) -> str:
    if bound is None:
        return "no samples"
    return f"> 10 s (n={count})" if math.isinf(bound) else f"≤ {bound * 1000:g} ms (n={count})"


def scrape(urls: Mapping[str, str]) -> dict[str, Buckets]:
    found = {}
    for name, url in urls.items():
        try:
            found[name] = parse_buckets(httpx.get(url, timeout=5).text)
        except httpx.HTTPError:
            continue  # a service without metrics is left out, not a failed run
    return found


@contextmanager
def measured(urls: Mapping[str, str]) -> Iterator[dict[str, Buckets]]:
    """Yields a dict filled, once the block is over, with each service's buckets of that block."""
    lags: dict[str, Buckets] = {}
    before = scrape(urls)
    yield lags
    after = scrape(urls)
    lags.update({name: difference(before.get(name, {}), buckets) for name, buckets in after.items()})
