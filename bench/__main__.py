"""`python -m bench [--quick] [--seconds N] …`: one benchmark run of the whole system (see bench/runner.py)."""

import sys

from bench.config import parse_args
from bench.runner import run


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
