"""A small Dockerfile reader: instructions grouped by build stage, continuation lines joined."""

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def last(self, instruction: str) -> str | None:
        found = self.all(instruction)
        return found[-1] if found else None


def parse(path: Path, build_args: dict[str, str] | None = None) -> list[Stage]:
    """The stages, with the build arguments (`ARG` defaults, overridden by `build_args`) substituted
    wherever `${NAME}` or `$NAME` names one, as `docker build --build-arg` would."""
    stages: list[Stage] = []
    values: dict[str, str] = {}
    build_args = build_args or {}

    def expand(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                      lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)

    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1].rstrip() + " "
            continue
        logical += line
        instruction, _, args = logical.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        logical = ""
        if instruction == "ARG":
            name, _, default = args.partition("=")
            values[name] = build_args.get(name, default)
            continue
        args = expand(args)
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{path}: {instruction} before FROM"
            stages[-1].instructions.append((instruction, args))
    return stages


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD (shell form is an error here)."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_pairs(args: str) -> dict[str, str]:
    """`ENV A=1 B=2` (the key=value form only)."""
    pairs = {}
    for word in args.split():
        name, sep, value = word.partition("=")
        assert sep, f"use ENV NAME=value: {args}"
        pairs[name] = value
    return pairs


def dockerignore_patterns(path: Path) -> list[tuple[str, bool]]:
    """(pattern, negated) in file order; the last matching pattern wins, as in Docker."""
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((line.lstrip("!").strip("/"), negated))
    return patterns


def is_ignored(relative: str, patterns: list[tuple[str, bool]]) -> bool:
    """Whether a context path (or a folder above it) is excluded by .dockerignore."""
    parts = relative.strip("/").split("/")
    ignored = False
    for pattern, negated in patterns:
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            candidates += ["/".join(parts[i:j + 1]) for i in range(len(parts)) for j in range(i, len(parts))]
            pattern = pattern[3:]
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            ignored = not negated
    return ignored
