"""The benchmark's newer arithmetic: loop-lag histograms, finding the servers' processes, the realistic
mode's closed loop and the ratios against the peer, the settings of databases and peers."""

import asyncio
import math
import os
import socket

import pytest

from bench import lag
from bench.config import parse_args
from bench.cpu import fold
from bench.procs import descendants, listening_inodes, parent_of, pid_listening
from bench.realistic import Conversations, closed_loop, paced
from bench.report import Side, lag_rows, peer_rows, per_reply_ms, ratio
from bench.ttft import TtftResult

EXPOSITION = """\
# HELP mobix_event_loop_lag_seconds How late the event loop ran a timer
# TYPE mobix_event_loop_lag_seconds histogram
mobix_event_loop_lag_seconds_bucket{le="0.001"} 90.0
mobix_event_loop_lag_seconds_bucket{le="0.005"} 99.0
mobix_event_loop_lag_seconds_bucket{le="0.01"} 100.0
mobix_event_loop_lag_seconds_bucket{le="+Inf"} 100.0
mobix_event_loop_lag_seconds_count 100.0
mobix_event_loop_lag_seconds_sum 0.05
other_metric_bucket{le="0.001"} 7.0
"""


def test_lag_buckets_parse_and_difference_keeps_one_phase():
    before = lag.parse_buckets(EXPOSITION)
    assert before == {0.001: 90.0, 0.005: 99.0, 0.01: 100.0, math.inf: 100.0}
    after = {0.001: 190.0, 0.005: 199.0, 0.01: 300.0, math.inf: 300.0}
    phase = lag.difference(before, after)
    assert phase == {0.001: 100.0, 0.005: 100.0, 0.01: 200.0, math.inf: 200.0}
    assert lag.samples(phase) == 200


def test_lag_quantile_is_the_bound_of_the_bucket_holding_it():
    buckets = lag.parse_buckets(EXPOSITION)
    assert lag.quantile_bound(buckets, 0.5) == 0.001
    assert lag.quantile_bound(buckets, 0.99) == 0.005
    assert lag.quantile_bound(buckets, 1.0) == 0.01
    assert lag.quantile_bound({0.001: 0.0, math.inf: 0.0}, 0.99) is None
    assert lag.quantile_bound({0.001: 0.0, 10.0: 0.0, math.inf: 5.0}, 0.99) == math.inf
    with pytest.raises(ValueError):
        lag.quantile_bound(buckets, 99)
    assert lag.describe(0.005, 100) == "≤ 5 ms (n=100)" and lag.describe(None, 0) == "no samples"


def test_lag_rows_judge_each_service_against_five_ms():
    fine = lag.parse_buckets(EXPOSITION)
    slow = {0.005: 50.0, 0.01: 100.0, math.inf: 100.0}
    rows = lag_rows("under load", {"gateway": fine, "chat": slow, "billing": {}})
    by_name = {row.figure.split(", ")[1]: row for row in rows}
    assert by_name["gateway"].met is True and by_name["chat"].met is False and by_name["billing"].met is None


def test_listening_inode_found_in_the_proc_table():
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:18F6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 4242 1 0 100 0 0 10 0\n"
        "   1: 0100007F:18F6 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  0  0 4343 1 0 100 0 0 10 0\n"
        "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 4444 1 0 100 0 0 10 0\n"
    )
    assert listening_inodes(table, 0x18F6) == {"4242"}  # the established connection is not the listener
    assert listening_inodes(table, 1) == set()


def test_the_process_listening_on_a_port_and_descendants_are_found():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert pid_listening(server.getsockname()[1]) == os.getpid()
    assert parent_of("123 (a (strange) name) S 77 123 123 0") == 77
    assert os.getpid() in descendants(os.getppid())


async def test_closed_loop_starts_each_reply_after_the_last_and_counts_failures():
    in_flight: dict[int, int] = {}
    calls = 0

    async def reply(index: int) -> float:
        nonlocal calls
        calls += 1
        this_call = calls
        in_flight[index] = in_flight.get(index, 0) + 1
        assert in_flight[index] == 1, "a conversation sent again before its reply ended"
        await asyncio.sleep(0.01)
        in_flight[index] -= 1
        if this_call % 5 == 0:
            raise TimeoutError
        return 7.0

    result = await closed_loop(reply, conversations=3, seconds=0.2)
    assert result.replies + result.failed == calls and result.failed == calls // 5
    assert set(result.first_token_ms) == {7.0} and result.seconds >= 0.2
    assert paced("hi", 40, 0.012) == "hi [[reply:words=40 delay=0.012]]"


def _side(name, replies, seconds, spent, exclude=()):
    return Side(name, Conversations(seconds, [10.0] * replies), spent, exclude)


def test_peer_ratios_count_what_each_side_counts():
    ours = _side("MobixAI", 100, 10, {"gateway": 2.0, "redis": 0.5, "rabbitmq": 0.5, "emulator": 9.0}, ("emulator",))
    theirs = _side("LiteLLM", 50, 10, {"litellm": 2.0, "redis": 1.0})
    assert per_reply_ms(ours) == pytest.approx(30.0) and per_reply_ms(theirs) == pytest.approx(60.0)
    ttft = TtftResult(platform_ms=[12.0, 14.0], direct_ms=[2.0, 2.0])
    rows = {row.figure: row for row in peer_rows(ours, theirs, ttft, through=[7.0, 9.0], direct=[2.0, 2.0])}
    cpu = rows["MobixAI ÷ LiteLLM: CPU per streamed reply, realistic"]
    assert cpu.result == "0.50×" and cpu.met is True
    rate = rows["MobixAI ÷ LiteLLM: replies per second, realistic"]
    assert rate.result == "2.00×" and rate.met is True
    first = rows["MobixAI ÷ LiteLLM: time to first token added, p50"]
    assert first.result.startswith("2.00×") and first.met is False  # 10 ms added against 5 ms
    assert ratio(1.0, 0.0) is None and ratio(float("nan"), 1.0) is None


def test_database_and_peer_settings(monkeypatch):
    monkeypatch.delenv("BENCH_PEERS", raising=False)
    default = parse_args([])
    assert default.databases == ("postgresql", "sqlite") and not default.peers
    assert parse_args(["--databases", "sqlite"]).databases == ("sqlite",)
    for wrong in ("mysql", "sqlite,sqlite", ""):
        with pytest.raises(SystemExit):
            parse_args(["--databases", wrong])
    monkeypatch.setenv("BENCH_PEERS", "1")
    assert parse_args([]).peers
    monkeypatch.setenv("BENCH_PEERS", "0")
    assert not parse_args([]).peers
    assert parse_args(["--quick"]).realistic_conversations == 8


def test_processes_of_a_group_are_summed_under_its_name():
    assert fold({"postgresql#0": 1.0, "postgresql#1": 0.5, "chat": 2.0}) == {"postgresql": 1.5, "chat": 2.0}
