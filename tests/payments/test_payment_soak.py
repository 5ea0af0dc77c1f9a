"""The payments soak (bench/payments.py) under `--soak`: a few hundred payments through the Zibal emulator
and localstripe with injected provider faults (slow answers, errors, a verify that times out after the
money was taken, callbacks and Stripe webhooks delivered again), ending with payments = activations
against billing's database and the providers' records: nothing lost, nothing doubled.
`--soak-payments` sets how many (default 300)."""

import subprocess

import pytest
from devinfra.system import fresh_vhost

from bench import payments as bench


@pytest.mark.soak
def test_payments_soak(request, infra, tmp_path_factory):
    if not request.config.getoption("--soak"):
        pytest.skip("the payments soak runs with --soak")
    try:
        rabbit_url = fresh_vhost(infra["rabbit_url"], "mobix_payments_soak")
    except (subprocess.SubprocessError, OSError):
        rabbit_url = infra["rabbit_url"]
    redis_url = infra["redis_url"].rsplit("/", 1)[0] + "/9"
    system = bench.start(tmp_path_factory.mktemp("payments-soak"), rabbit_url, redis_url)
    try:
        figures = bench.soak(bench.prepare(system), request.config.getoption("--soak-payments"))
    finally:
        system.stop_all()
    print(figures)
    assert figures["problems"] == [], "\n".join(figures["problems"][:40])
    assert figures["completed"] == figures["paid_at_provider"] == figures["periods_opened"]
    # the mix reached what the soak is about: faults that left payments pending, settled by reconciliation
    assert figures["statuses"].get("completed", 0) > figures["payments"] // 3, figures["statuses"]
    assert any("verify" in name and name.endswith("→ pending") for name in figures["scenarios"]), figures["scenarios"]
