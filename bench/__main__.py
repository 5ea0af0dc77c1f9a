"""`python -m bench [--quick] [--seconds N] …`: one benchmark run of the whole system (see bench/runner.py);
with `BENCH_SCALE=1`, the scale mode instead (bench/scale.py)."""

import os
import sys

from bench.config import parse_args
from bench.runner import run


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if os.environ.get("BENCH_SCALE") == "1":
        from bench.scale import run_scale

        return run_scale(config)
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
