"""The performance harness of architecture.md §7: `python -m bench` (or `make bench`) starts the whole
system, loads it with wrk, and prints and records the figures in bench/RESULTS.md."""
