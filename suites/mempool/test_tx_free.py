"""tx-free handling: mbufs the tx path did not take, and those it completed, go back to the pool.

Part of the mempool suite: every check here is about mbufs returning to the profile's pool.
"""
import time

import pytest

from harness import mempool, traffic
from harness.errors import ProbeUnsupportedError
from harness.probe import Run, Task
from harness.topology import profile_port_count

COMPLETION_TIMEOUT_S = 10.0
MAX_BURST = 512  # PROBE_MAX_BURST


def _in_use_elsewhere(harness, ports) -> int:
    """mbufs legitimately held by the session's other topologies (their rx rings, their wires)."""
    return sum(t.held_mbufs + t.pending() for t in harness.topologies.values() if t is not ports)


def _settle(pool, limit, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        in_use = pool.stats().in_use
        if in_use <= limit or time.monotonic() > deadline:
            return in_use
        time.sleep(0.05)


@pytest.mark.requires("wire")
def test_unsent_mbufs_are_freed(ports, pool, worker, profile, measure):
    """Steps: send three times what the wire can hold with nobody receiving, so rte_eth_tx_burst returns fewer
    than asked (on a NIC, whose wire drains by itself, in bursts of queues.tx_desc frames: one burst more
    than its tx ring can take); then drain the wire.
    Verify: after the run, mbufs in use exceed the baseline only by what sits in the wire (the unsent ones were
    freed), and after draining they are back to the baseline."""
    baseline = pool.stats().in_use
    count = 3 * max(profile.queues.tx_desc, 1024)
    burst = profile.queues.burst
    if ports.kind == "nic":
        burst = min(MAX_BURST, max(burst, profile.queues.tx_desc))
    st = Run(worker, [Task.gen(ports.tx)], pool=pool, burst=burst, count=count)
    try:
        time.sleep(0.2)
    finally:
        gen = st.stop().tasks[0]
    unsent = gen["tx_unsent"]
    if unsent == 0:
        pytest.skip(f"{ports.describe_ports()}: tx_burst took every frame ({gen['tx_pkts']}, bursts of {burst}); "
                    "no backpressure to test unsent handling")
    in_wire = ports.pending()
    after = _settle(pool, baseline + in_wire, 1.0)
    leaked = after - baseline - in_wire
    measure("tx_unsent", unsent, unit="mbufs")
    measure("tx_unsent_not_freed", leaked, unit="mbufs", target=0, op="<=")
    assert leaked <= 0, (
        f"{leaked} of the {unsent} mbufs rte_eth_tx_burst did not take were never freed (in use {after}, "
        f"baseline {baseline}, {in_wire} in the wire): the caller owns unsent mbufs and must "
        "rte_pktmbuf_free them (or retry them)")
    traffic.drain(ports, worker)
    back = _settle(pool, baseline, 1.0)
    assert back == baseline, f"after draining the wire {back - baseline} mbufs are still in use"


def test_completions_come_back(ports, pool, worker, profile, harness, measure):
    """Steps: offer full load for measure.duration_s while the loop samples the pool; drain; stop the ports.
    Verify: mbufs in use never exceed what the pipeline can hold (rings, bursts, caches); within 10 s of the
    ports stopping, every mbuf of these ports is back in the pool."""
    verdict, bound, _ = mempool.pool_covers_pipeline(profile, profile_port_count(profile), len(profile.eal.lcores))
    elsewhere = _in_use_elsewhere(harness, ports)
    if ports.kind in ("ring_wire", "nic") and len(ports.ports) >= 2:
        d = traffic.max_rate(ports, worker, pool, profile.measure.duration_s, flows=profile.rss.flows,
                             burst=profile.queues.burst)
        peak = pool.stats().size - d.stats.pool_min_avail
    else:
        pytest.skip(f"{ports.describe_ports()}: no tx/rx pair to load")
    measure("mbufs_in_use_peak", peak, unit="mbufs", target=bound + elsewhere, op="<=")
    assert peak <= bound + elsewhere, (
        f"{peak} mbufs were in use at the peak, more than the {bound} the pipeline can hold "
        f"(+{elsewhere} held by other ports): completed mbufs are not coming back; check tx_free_thresh")
    for port in ports.ports:
        port.stop()
    try:
        t0 = time.monotonic()
        left = _settle(pool, elsewhere, COMPLETION_TIMEOUT_S) - elsewhere
        measure("mbufs_in_use_after_stop", left, unit="mbufs", target=0, op="<=",
                seconds=f"{time.monotonic() - t0:.2f}")
    finally:
        for port in ports.ports:
            port.start()
    assert left <= 0, (
        f"{left} mbufs still in use {COMPLETION_TIMEOUT_S:.0f} s after the ports stopped: the PMD does not "
        "give back transmitted mbufs on stop")


def test_tx_done_cleanup(ports, pool, worker, profile, measure):
    """Steps: after traffic, ask each tx queue to free completed mbufs with rte_eth_tx_done_cleanup.
    Verify: the call succeeds where the PMD implements it and mbufs in use do not grow; SKIP naming the
    driver where it does not."""
    port = ports.tx
    try:
        port.tx_done_cleanup(0, 0)
    except ProbeUnsupportedError:
        pytest.skip(f"{port.driver} ({port.name}) does not implement rte_eth_tx_done_cleanup")
    if len(ports.ports) >= 2:
        traffic.max_rate(ports, worker, pool, min(0.5, profile.measure.duration_s), burst=profile.queues.burst)
    before = pool.stats().in_use
    freed = port.tx_done_cleanup(0, 0)
    after = pool.stats().in_use
    measure("tx_done_cleanup_freed", freed, unit="mbufs")
    assert freed >= 0 and after <= before, f"tx_done_cleanup freed {freed}, but in use went {before} -> {after}"


@pytest.mark.requires("wire")
def test_no_slow_leak(ports, pool, worker, profile, measure):
    """Steps: run full load for 2 x measure.duration_s (at least 1 s), sampling mbufs in use every 50 ms.
    Verify: the in-use count shows no growth trend: its least-squares slope times the run length stays below
    what bursts and lcore caches can move (burst + cache per lcore)."""
    seconds = max(1.0, 2 * profile.measure.duration_s)
    run = Run(worker, [Task.gen(ports.tx)] + traffic.sink_tasks(ports), pool=pool, burst=profile.queues.burst,
              flows=profile.rss.flows)
    samples = []
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            samples.append((time.monotonic() - t0, pool.stats().in_use))
            time.sleep(0.05)
    finally:
        run.stop()
    traffic.drain(ports, worker)
    slope = mempool.growth_per_s(samples)
    noise = (profile.queues.burst + profile.mempool.cache) * len(profile.eal.lcores)
    measure("mbufs_in_use_growth", slope, unit="mbufs/s", target=noise / seconds, op="<=", samples=len(samples))
    assert slope * seconds <= noise, (
        f"mbufs in use grow by {slope:.1f}/s over {seconds:.1f} s ({len(samples)} samples, "
        f"{samples[0][1]} -> {samples[-1][1]}): a slow leak; find the path that drops mbufs without freeing them")
