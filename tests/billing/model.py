"""A deliberately naive Python model of business-rules §5: every answer is recomputed from the full
list of committed entries and open reservations, with none of the limiter's incremental bookkeeping,
so the two can be compared step by step.

Windows are counted two ways. `exact`: an item counts while it is inside the sliding window. Bucketed
(what the limiter does): a committed item counts while its time bucket (1/60 of the window) overlaps
the window; an open reservation counts exactly. Every question takes `exact`, so one model answers
both and the bucketed answers can be checked against the exact ones (never more admitted, never
freed earlier, at most one bucket later)."""

from dataclasses import dataclass, field

from billing.rules import LIMITS, MIN_REPLY_TOKENS, WINDOWS


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Item:
    exchange_id: str
    ts: int  # admission, ms
    eff: int
    free: bool
    image: bool
    cost: int  # nano-USD
    expires: int | None = None  # reservations only
    cap: int = 0


@dataclass
class Terms:
    free: bool
    num: int
    den: int
    prompt: int
    model_max: int
    image: bool
    pp: int | None = None  # nano-USD per prompt token; None unknown
    cp: int | None = None


@dataclass
class Model:
    limits: tuple[int, ...]
    period_start: int
    ttl: int
    committed: list[Item] = field(default_factory=list)
    open: dict[str, Item] = field(default_factory=dict)

    def expire(self, now: int) -> None:
        self.open = {k: r for k, r in self.open.items() if r.expires > now}

    def _items(self) -> list[Item]:
        return [*self.committed, *self.open.values()]

    @staticmethod
    def _in_scope(scope: str, item: Item) -> bool:
        return (scope == "all" or (scope == "paid" and not item.free) or (scope == "free" and item.free)
                or (scope == "image" and item.image))

    def _bucketed(self, item: Item) -> bool:
        return item.expires is None  # committed; reservations are kept exactly

    def frees_at(self, item: Item, w: int, exact: bool) -> int:
        """When the item stops counting in window w."""
        window = WINDOWS[w]
        if exact or not self._bucketed(item):
            return item.ts + window.ms
        return (item.ts // window.bucket_ms + 1) * window.bucket_ms + window.ms - 1

    def _counted(self, k: int, now: int, exact: bool = False) -> list[Item]:
        spec = LIMITS[k]
        if spec.window is None:
            inside = [i for i in self._items() if i.ts >= self.period_start]
        else:
            inside = [i for i in self._items() if self.frees_at(i, spec.window, exact) > now]
        return [i for i in inside if self._in_scope(spec.scope, i)]

    def used(self, k: int, now: int, exact: bool = False) -> int:
        kind = LIMITS[k].kind
        items = self._counted(k, now, exact)
        if kind == "messages":
            return len(items)
        if kind == "tokens":
            return sum(i.eff for i in items)
        return sum(i.cost for i in items)

    def admit(self, now: int, exchange_id: str, t: Terms):
        """('ok', cap, rate) | ('deny', index, limit, used, retry_ms or None or 'period'); reserves."""
        self.expire(now)
        if exchange_id in self.open:
            return ("ok", self.open[exchange_id].cap, self.rate_limit(now))
        answer = self.decide(now, t)
        if answer[0] == "ok":
            cap = answer[1]
            eff = ceil_div((t.prompt + cap) * t.num, t.den) if t.num else 0
            cost = t.prompt * t.pp + cap * t.cp if t.pp is not None and t.cp is not None else 0
            self.open[exchange_id] = Item(exchange_id, now, eff, t.free, t.image, cost, now + self.ttl, cap)
            return ("ok", cap, self.rate_limit(now))
        return answer

    def decide(self, now: int, t: Terms, exact: bool = False):
        """What an admission now would answer, reserving nothing: ('ok', cap) | ('deny', …)."""
        self.expire(now)
        cap = t.model_max
        prices = t.pp is not None and t.cp is not None
        for k, spec in enumerate(LIMITS):
            limit = self.limits[k]
            probe = Item("", now, 0, t.free, t.image, 0)
            if limit == 0 or not self._in_scope(spec.scope, probe):
                continue
            u = self.used(k, now, exact)
            allow = None  # unlimited
            if spec.kind == "messages":
                fails = u + 1 > limit
            elif spec.kind == "tokens":
                if t.num > 0:
                    # the largest r with ceil((prompt + r) * num / den) <= limit - u
                    allow = (limit - u) * t.den // t.num - t.prompt
                fails = allow is not None and allow < MIN_REPLY_TOKENS
            else:
                fails = u >= limit
                if not fails and prices:
                    room = limit - u - t.prompt * t.pp
                    if t.cp > 0:
                        allow = room // t.cp
                    elif room < 0:
                        allow = -1
                    fails = allow is not None and allow < MIN_REPLY_TOKENS
            if fails:
                return ("deny", k, limit, u, self.retry(k, limit, u, now, t, exact))
            if allow is not None:
                cap = min(cap, allow)
        return ("ok", cap)

    def retry(self, k: int, limit: int, u: int, now: int, t: Terms, exact: bool = False):
        """ms until limit k has room for the smallest exchange (0: it has room now)."""
        spec = LIMITS[k]
        if spec.window is None:
            return "period"
        if spec.kind == "messages":
            deficit = u + 1 - limit
        else:
            need = ceil_div((t.prompt + MIN_REPLY_TOKENS) * t.num, t.den)
            if need > limit:
                return None
            deficit = u + need - limit
        if deficit <= 0:
            return 0
        freed = 0
        for at, item in self._by_freeing(k, now, exact):
            freed += 1 if spec.kind == "messages" else item.eff
            if freed >= deficit:
                return at - now
        return None

    def _by_freeing(self, k: int, now: int, exact: bool) -> list[tuple[int, Item]]:
        w = LIMITS[k].window
        items = [(self.frees_at(i, w, exact), i) for i in self._counted(k, now, exact)]
        return sorted(items, key=lambda pair: pair[0])

    def rate_limit(self, now: int):
        best = None
        for k, spec in enumerate(LIMITS):
            if spec.kind == "messages" and spec.scope == "all" and self.limits[k] > 0:
                remaining = self.limits[k] - self.used(k, now)
                if best is None or remaining < best[1]:
                    best = (k, remaining)
        if best is None:
            return None
        k, remaining = best
        items = self._by_freeing(k, now, False)
        reset = items[0][0] - now if items else 0
        return (self.limits[k], max(0, remaining), reset)

    def commit(self, exchange_id: str, ts: int, eff: int, free: bool, image: bool, cost: int) -> None:
        self.open.pop(exchange_id, None)
        if all(i.exchange_id != exchange_id for i in self.committed):
            self.committed.append(Item(exchange_id, ts, eff, free, image, cost))

    def release(self, exchange_id: str) -> None:
        self.open.pop(exchange_id, None)

    def committed_used(self, k: int, now: int, exact: bool = False) -> int:
        """Committed usage only (the promise: never above the limit)."""
        saved, self.open = self.open, {}
        try:
            return self.used(k, now, exact)
        finally:
            self.open = saved
