"""The benchmark's own arithmetic and parsing: percentiles, wrk output, reply accounting, settings."""

import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.config import parse_args
from bench.cpu import CpuMeter, cpu_seconds
from bench.loadgen import Prepared, WrkFailed, parse_report, parse_samples
from bench.replies import combine, session_state
from bench.report import Row, cpu_row
from bench.stats import Spread, paired_differences, percentile

WRK_STDOUT = """\
Running 10s test @ http://127.0.0.1:8000
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   120.51ms   30.10ms 400.00ms   70.00%
  3000 requests in 10.00s, 2.00MB read
Requests/sec:    300.00
@@ duration_us 10004000
@@ requests 3000
@@ errors connect=0 read=1 write=0 status=40 timeout=2
@@ latency_us p50 118000
@@ latency_us p90 160250
@@ latency_us p99 390000
"""


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7.5], 99) == 7.5
    assert percentile([3, 1, 2], 50) == 2  # order of the input does not matter


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1), st.floats(0, 100))
def test_percentile_is_a_measured_value_with_p_percent_at_or_below(values, p):
    result = percentile(values, p)
    assert result in values
    at_or_below = sum(v <= result for v in values)
    assert at_or_below >= math.ceil(p / 100 * len(values))


def test_percentile_refuses_nothing_and_nonsense():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_spread_and_paired_differences():
    assert Spread.of([5.0, 1.0, 3.0]) == Spread(3, 3.0, 5.0)
    assert paired_differences([10.0, 12.0], [4.0, 5.0]) == [6.0, 7.0]
    with pytest.raises(ValueError):
        paired_differences([1.0], [])


def test_parse_report_reads_the_lua_summary_lines():
    result = parse_report(WRK_STDOUT)
    assert result.duration_s == pytest.approx(10.004)
    assert result.requests == 3000
    assert result.errors == {"connect": 0, "read": 1, "write": 0, "status": 40, "timeout": 2}
    assert result.socket_errors == 3  # status errors are answers, not socket failures
    assert result.histogram_ms == {50: 118.0, 90: 160.25, 99: 390.0}


def test_parse_report_without_summary_is_a_failure():
    with pytest.raises(WrkFailed):
        parse_report("Running 10s test @ http://127.0.0.1:8000\n")


def test_parse_samples_counts_every_response_and_times_the_matched_ones():
    statuses, samples = parse_samples("201 1500\n201 2500\n409 800\n200 -1\n\n429 1.2e+06\n")
    assert statuses == {201: 2, 409: 1, 200: 1, 429: 1}
    assert samples == {201: [1.5, 2.5], 409: [0.8], 429: [1200.0]}


def test_rates_come_from_counts_and_duration():
    result = parse_report(WRK_STDOUT)
    result.statuses = {201: 2001, 409: 40}
    assert result.rate(201) == pytest.approx(2001 / 10.004)
    assert result.others(201) == {409: 40}


def test_prepared_requests_cannot_carry_tabs_or_newlines():
    ok = Prepared("POST", "/api/chat-sessions/1/send/", "sessionid=a; csrftoken=b", "b", '{"message": "hi"}')
    assert ok.line().split("\t") == ["POST", "/api/chat-sessions/1/send/", "sessionid=a; csrftoken=b", "b",
                                     '{"message": "hi"}']
    with pytest.raises(ValueError):
        Prepared("POST", "/x/", body='{"message": "a\tb"}').line()


def _message(kind, status=None, created="2026-01-01T00:00:00Z"):
    return {"message_type": kind, "reply_status": status, "created_at": created}


def test_reply_accounting_counts_states_and_the_last_stored_reply():
    first = session_state([
        _message("user", "completed"), _message("assistant", created="2026-01-01T00:00:01.250000Z"),
        _message("user", "failed"),
    ])
    second = session_state([
        _message("user", "completed"), _message("assistant", created="2026-01-01T00:00:03Z"),
        _message("user", "streaming"),
    ])
    settled = combine([first, second])
    assert (settled.user_messages, settled.completed, settled.failed, settled.in_progress) == (4, 2, 1, 1)
    assert not settled.done
    assert settled.last_stored.isoformat() == "2026-01-01T00:00:03+00:00"
    assert combine([first]).done


def test_quick_run_settings_and_checks():
    quick = parse_args(["--quick"])
    assert quick.quick and quick.seconds == 3 and quick.storm_sends >= 50
    custom = parse_args(["--seconds", "20", "--env", "WORKER_CONCURRENCY=32"])
    assert custom.seconds == 20 and custom.service_env == {"WORKER_CONCURRENCY": "32"}
    with pytest.raises(SystemExit):
        parse_args(["--limit", "60", "--storm-sends", "60"])
    with pytest.raises(SystemExit):
        parse_args(["--env", "NOVALUE"])


def test_rows_show_verdicts_and_cpu_ranked():
    assert Row("x", "1", "≥ 2", False).verdict == "MISSED"
    assert Row("x", "3", "≥ 2", True).verdict == "met"
    row = cpu_row("sends", 10.2, {"chat": 1.0, "gateway": 4.25})
    assert row.result == "gateway 4.2, chat 1.0"


def test_cpu_meter_reads_proc_and_skips_processes_that_are_gone():
    assert cpu_seconds(os.getpid()) > 0
    assert cpu_seconds(2**22 + 12345) is None  # above any pid_max: no such process
    rows: list[Row] = []
    meter = CpuMeter({"me": os.getpid(), "gone": 2**22 + 12345}, rows)
    with meter.phase("spin") as spent:
        sum(i * i for i in range(200_000))
    assert set(spent) == {"me"} and spent["me"] >= 0
    meter.per_operation("thing", {"me": 0.5, "other": 1.5}, 1000)
    assert rows[0].figure.startswith("spin") and rows[1].result == "other 1.5, me 0.5; total 2.0"
