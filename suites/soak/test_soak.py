"""Soak: the lifecycle checks under continuous traffic for ``--dpdk-soak DURATION`` (e.g. 1h).

Collected only when --dpdk-soak is given (the plugin deselects it otherwise): a soak is a
run of its own, ``pytest suites/soak --dpdk-soak 1h``. One soak runs (in the first check that
needs it) and every check here judges its own figure from it; a counter the ports do not keep
(net_ring counts neither rx_nombuf nor imissed) is a SKIP naming the device, never a pass.
"""
import pytest

from harness.soak import run as soak_run

#: judged by test_soak; the counter rates have checks of their own (they need the counter)
LIFECYCLE = ("soak_mbufs_in_use_slope", "soak_worker_involuntary_ctx_switches", "soak_pool_headroom_min")


def _soak(ports, pool, worker, profile, harness, soak_s) -> dict:
    """The soak's series and verdicts: run once, on the first call, and kept for the report."""
    if harness.soak is None:
        harness.soak = soak_run.soak(ports, pool, worker, profile, soak_s, say=harness.say or print)
    return harness.soak


def _judge(result: dict, names, measure) -> None:
    problems = []
    for c in result["checks"]:
        if c["name"] not in names:
            continue
        measure(c["name"], c["value"], unit=c["unit"], target=c["target"], op=c["op"], **c["extra"])
        if not c["passed"]:
            problems.append(f"{c['name']}: {c['message']}")
    assert not problems, "\n".join(problems)


@pytest.mark.requires("wire")
def test_soak(ports, pool, worker, profile, harness, soak_s, measure):
    """Steps: offer full load on the profile's ports for the --dpdk-soak duration; every few seconds
    (2 s up to 10 min, 5 s beyond) sample mbufs in use (less those in the wire), free mbufs (and the
    lowest free count the worker's loop saw under load), the ports' rx_nombuf and imissed, the worker's
    involuntary context switches; print a progress line every 10 s.
    Verify, on least-squares slopes over the whole soak (never on end points): mbufs in use do not
    trend up beyond what bursts and caches move; the worker is preempted at most
    eal.max_involuntary_ctx_switches_per_s; the pool has free mbufs at every moment under load. The
    report charts every series."""
    _judge(_soak(ports, pool, worker, profile, harness, soak_s), LIFECYCLE, measure)


@pytest.mark.requires("wire", "rx_nombuf")
def test_soak_rx_nombuf_rate(ports, pool, worker, profile, harness, soak_s, measure):
    """Steps: the soak above (run here if it has not run).
    Verify: the ports' rx_nombuf (rx found no free mbuf) grew at 0/s over the soak. SKIP, naming the
    device, where the PMD keeps no rx_nombuf counter."""
    _judge(_soak(ports, pool, worker, profile, harness, soak_s), ("soak_rx_nombuf_rate",), measure)


@pytest.mark.requires("wire", "imissed")
def test_soak_imissed_rate(ports, pool, worker, profile, harness, soak_s, measure):
    """Steps: the soak above (run here if it has not run).
    Verify: the ports' imissed (dropped for want of rx descriptors) grew at 0/s over the soak. SKIP,
    naming the device, where the PMD keeps no imissed counter."""
    _judge(_soak(ports, pool, worker, profile, harness, soak_s), ("soak_imissed_rate",), measure)
