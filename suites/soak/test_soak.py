"""Soak: the lifecycle checks under continuous traffic for ``--dpdk-soak DURATION`` (e.g. 1h).

Collected only when --dpdk-soak is given (the plugin deselects it otherwise): a soak is a
run of its own, ``pytest suites/soak --dpdk-soak 1h``.
"""
import pytest

from harness.soak import run as soak_run


@pytest.mark.requires("wire")
def test_soak(ports, pool, worker, profile, harness, soak_s, measure):
    """Steps: offer full load on the profile's ports for the --dpdk-soak duration; every few seconds
    (2 s up to 10 min, 5 s beyond) sample mbufs in use (less those in the wire), free mbufs, the ports'
    rx_nombuf and imissed, the worker's involuntary context switches; print a progress line every 10 s.
    Verify, on least-squares slopes over the whole soak (never on end points): mbufs in use do not
    trend up beyond what bursts and caches move; rx_nombuf and imissed grow at 0/s; the worker is
    preempted at most eal.max_involuntary_ctx_switches_per_s; the pool always has free mbufs. The
    report charts every series."""
    result = soak_run.soak(ports, pool, worker, profile, soak_s, say=harness.say or print)
    harness.soak = result
    problems = []
    for c in result["checks"]:
        measure(c["name"], c["value"], unit=c["unit"], target=c["target"], op=c["op"], **c["extra"])
        if not c["passed"]:
            problems.append(f"{c['name']}: {c['message']}")
    assert not problems, "\n".join(problems)
