"""Read docker-compose.yml and .env.example the way `docker compose` does, without a Docker engine.

Covers the interpolation forms the compose specification defines (`${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$VAR`, `$$`).
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.ops.deployables import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>\{[^}]*\}?))"
)
# A line naming a variable in .env.example, set (`NAME=value`) or shown commented out (`# NAME=value`).
_ENV_LINE = re.compile(r"^\s*(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


class MissingVariable(Exception):
    """A `${VAR:?message}` whose variable is not set: compose refuses to start."""


def interpolate(text: str, env: Mapping[str, str], used: set[str] | None = None) -> str:
    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["invalid"] is not None:
            raise ValueError(f"invalid interpolation {match.group(0)!r} in {text!r}")
        name = match["name"] or match["bare"]
        if used is not None:
            used.add(name)
        op, arg = match["op"], match["arg"] or ""
        if "${" in arg:
            raise ValueError(f"nested interpolation is not supported by this check: {text!r}")
        value = env.get(name)
        is_set, non_empty = value is not None, bool(value)
        if op in (":-", "-"):
            return value if (non_empty if op == ":-" else is_set) else interpolate(arg, env, used)
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else is_set):
                raise MissingVariable(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return interpolate(arg, env, used) if (non_empty if op == ":+" else is_set) else ""
        return value or ""

    return _TOKEN.sub(replace, text)


def interpolate_tree(node: Any, env: Mapping[str, str], used: set[str] | None = None) -> Any:
    """Interpolate every string value (compose does not interpolate keys)."""
    if isinstance(node, str):
        return interpolate(node, env, used)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, used) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env, used) for item in node]
    return node


def load_raw(path: Path = COMPOSE_FILE) -> dict:
    """The file as YAML (anchors and `<<` merge keys resolved), before interpolation."""
    return yaml.safe_load(path.read_text())


def env_example_entries(path: Path = ENV_EXAMPLE) -> list[tuple[str, str, bool]]:
    """(name, value, commented_out) for each variable line of .env.example."""
    entries = []
    for line in path.read_text().splitlines():
        match = _ENV_LINE.match(line)
        if match:
            entries.append((match["name"], match["value"].strip(), bool(match["comment"])))
    return entries


def env_example_values(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """What `cp .env.example .env` gives compose: the lines that are not commented out."""
    return {name: value for name, value, commented in env_example_entries(path) if not commented}


def load(env: Mapping[str, str]) -> dict:
    return interpolate_tree(load_raw(), env)


def service_environment(service: dict) -> dict[str, str | None]:
    """A service's `environment` as a mapping; None marks a pass-through (`NAME:` or `- NAME`)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in environment)
        return {name: value for name, value in pairs}
    return {name: None if value is None else str(value) for name, value in environment.items()}


def container_environment(service: dict, env: Mapping[str, str]) -> dict[str, str]:
    """What the container sees: set values, plus pass-throughs that are set in `env`."""
    resolved = {}
    for name, value in service_environment(service).items():
        if value is not None:
            resolved[name] = value
        elif name in env:
            resolved[name] = env[name]
    return resolved


def parse_duration(text: str) -> float:
    """Compose durations such as `330s`, `5m30s`, `1h`."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)
