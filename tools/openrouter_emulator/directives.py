"""Parsing of `[[fault:…]]` / `[[reply:…]]` directives (syntax in the package docstring)."""

import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"\[\[(?P<ns>fault|reply):(?P<body>[^\[\]]*)\]\]", re.IGNORECASE)


@dataclass(frozen=True)
class Fault:
    kind: str  # "http_500", "cut_after", "no_usage", …
    value: str | None = None  # the `=N` right after the kind
    params: dict[str, str] = field(default_factory=dict)

    def number(self, name: str | None = None, default: float = 0.0) -> float:
        """A numeric value (`name=None`: the kind's own value); malformed numbers use the default."""
        raw = self.value if name is None else self.params.get(name)
        try:
            return float(raw) if raw is not None else default
        except ValueError:
            return default


@dataclass
class Directives:
    faults: list[Fault] = field(default_factory=list)
    reply: dict[str, str] = field(default_factory=dict)

    def get(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def http_status(self) -> Fault | None:
        return next((f for f in self.faults if f.kind.startswith("http_")), None)


def parse_fault(text: str) -> Fault | None:
    """`"http_429 retry_after=1"` → Fault("http_429", None, {"retry_after": "1"})."""
    words = text.split()
    if not words:
        return None
    kind, _, value = words[0].partition("=")
    params = {}
    for word in words[1:]:
        key, _, val = word.partition("=")
        params[key.lower()] = val
    return Fault(kind.lower(), value or None, params)


def parse(text: str) -> Directives:
    found = Directives()
    for match in _DIRECTIVE.finditer(text):
        body = match.group("body")
        if match.group("ns").lower() == "fault":
            fault = parse_fault(body)
            if fault is not None:
                found.faults.append(fault)
        else:
            for word in body.split():
                key, _, val = word.partition("=")
                found.reply[key.lower()] = val
    return found


def strip(text: str) -> str:
    """The text without its directives (what the reply echoes)."""
    return " ".join(_DIRECTIVE.sub(" ", text).split())
