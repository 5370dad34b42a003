"""Mempool sizing: the profile's pool holds what the pipeline can, within DPDK's rules, in the right memory."""
import time
import warnings
from dataclasses import dataclass

import pytest

from harness import mempool, perf, traffic
from harness.errors import OverloadedTesterError
from harness.system import procfs
from harness.topology import profile_port_count


def test_pool_covers_the_pipeline(profile, measure):
    """Steps: add up every place an mbuf can sit at once: rx rings, tx rings, each lcore's burst and cache,
    and the in-flight depth the profile declares.
    Verify: mempool.mbufs is at least that sum; the verdict names each term and the number to set."""
    verdict, need, terms = mempool.pool_covers_pipeline(profile, profile_port_count(profile), len(profile.eal.lcores))
    for t in terms:
        measure(f"mempool_need_{t.name.replace(' ', '_')}", t.mbufs, unit="mbufs", how=t.how)
    measure("mempool_mbufs", profile.mempool.mbufs, unit="mbufs", target=need)
    assert verdict.ok, verdict.message


def test_cache_within_dpdk_limits(profile, harness, measure):
    """Steps: judge mempool.cache against RTE_MEMPOOL_CACHE_MAX_SIZE and DPDK's 1.5 x cache <= n rule;
    cross-check with what DPDK said when the harness created the pool.
    Verify: the cache is within the limits and DPDK created the pool; advice on the pool size's shape is reported."""
    mp = profile.mempool
    verdict = mempool.cache_verdict(mp.mbufs, mp.cache)
    measure("mempool_cache", mp.cache, unit="mbufs", target=mempool.RTE_MEMPOOL_CACHE_MAX_SIZE, op="<=",
            advice=verdict.advice or "none")
    if verdict.advice:
        warnings.warn(f"mempool advice: {verdict.advice}", stacklevel=2)
    assert verdict.ok, verdict.message
    assert harness.pool_error is None, (
        f"DPDK refused the profile's pool although the cache rule holds: {harness.pool_error}; "
        "check mempool.mbufs / data_room against eal.memory_mb")


def test_data_room_holds_the_largest_frame(profile, measure):
    """Steps: compare the data room after the headroom with the largest frame the MTU allows (MTU + 18).
    Verify: a frame fits in one mbuf, unless mempool.scatter chains segments."""
    mp = profile.mempool
    verdict = mempool.data_room_verdict(mp.data_room, mp.mtu, mp.scatter)
    measure("mempool_data_room", mp.data_room, unit="bytes",
            target=mp.mtu + mempool.L2_OVERHEAD + mempool.RTE_PKTMBUF_HEADROOM)
    assert verdict.ok, verdict.message


def test_pool_is_hugepage_backed(pool, profile, measure):
    """Steps: find the page size of the memory the pool's mbufs live in.
    Verify: it is a hugepage, so mbufs do not straddle 4 kB pages and the IOMMU maps few entries."""
    page = pool.stats().hugepage_sz
    measure("mempool_page_size", page, unit="bytes", target=2 * 1024 * 1024)
    assert page >= 2 * 1024 * 1024, (
        f"the pool lives in {page // 1024} kB pages, not hugepages (eal.hugepages = "
        f"{str(profile.eal.hugepages).lower()}); set eal.hugepages = true and reserve hugepages")


@pytest.mark.requires("numa")
def test_pool_is_on_the_ports_socket(pool, ports):
    """Steps: read the socket of the pool and of each port.
    Verify: they match, so rx/tx never cross the interconnect for packet memory."""
    pool_socket = pool.stats().socket_id
    for port in ports.ports:
        sock = port.info()["socket_id"]
        assert pool_socket in (sock, -1) and sock >= 0, (
            f"pool on socket {pool_socket}, port {port.name} on socket {sock}; set mempool.socket = {sock}")


@pytest.mark.requires("wire")
def test_no_rx_nombuf_under_sustained_load(ports, pool, worker, profile, measure):
    """Steps: offer full load over the wire for 2 x measure.duration_s (at least 1 s); the loop samples the
    pool's free count.
    Verify: rx_nombuf stays 0 on every port; the lowest free count seen is reported as headroom."""
    before = {p.id: p.stats()["rx_nombuf"] for p in ports.ports}
    d = traffic.max_rate(ports, worker, pool, max(1.0, 2 * profile.measure.duration_s),
                         flows=profile.rss.flows, burst=profile.queues.burst)
    nombuf = {p.name: p.stats()["rx_nombuf"] - before[p.id] for p in ports.ports}
    headroom = d.stats.pool_min_avail
    measure("mempool_headroom_min_free", headroom, unit="mbufs", of=pool.stats().size)
    measure("rx_nombuf", sum(nombuf.values()), target=0, op="<=")
    assert not any(nombuf.values()), (
        f"rx_nombuf rose under load ({nombuf}); the pool ran dry (lowest free count {headroom}): "
        "raise mempool.mbufs or lower the rx descriptor counts")


def _exhaustion_topology(topology_of, profile):
    if profile.ports.nic_mode:
        pytest.skip("exhaustion on a NIC needs a second, generator-only pool: not in this release")
    if profile.ports.topology == "tap":
        return topology_of("tap")  # the deployment's own net_tap ports
    # a net_tap of the harness's own: as many tx as rx queues, as net_tap requires, whatever the profile's
    # topology allows (4 rx / 1 tx is sound on af_packet)
    return topology_of("tap", queues=max(profile.queues.rx, profile.queues.tx))


@dataclass
class _Exhaustion:
    held: int = 0
    released: int = 0
    sent_dry: int = 0
    dry: dict | None = None
    sent_wet: int = 0
    got_wet: int = 0
    waited: float = 0.0     # seconds the worker lcores waited for a CPU meanwhile


def _exhaust_once(topo, pool, worker) -> _Exhaustion:
    """Empty the pool while frames arrive, give the mbufs back, send again; every mbuf taken is given
    back in a finally, whatever fails on the way."""
    from harness.probe import Run, Task
    port, r = topo.rx, _Exhaustion()
    port.reset_stats()
    run = None
    waited = procfs.lcores_waited_s()
    try:
        r.held = pool.hold(pool.stats().avail)  # before the run: hold flushes the lcore caches
        try:
            run = Run(worker, [Task.sink(port, q) for q in range(topo.port_conf.nb_rxq)])
            r.sent_dry = topo.feed(400, flows=64, rate_pps=2000)
            time.sleep(0.3)
            r.dry = port.stats()
        finally:
            r.released = pool.release()
        got_dry = run.stats().total("rx_ours")
        r.sent_wet = topo.feed(500, flows=64)
        deadline = time.monotonic() + 5
        while run.stats().total("rx_ours") - got_dry < r.sent_wet and time.monotonic() < deadline:
            time.sleep(0.02)
        r.got_wet = run.stats().total("rx_ours") - got_dry
    finally:
        if run is not None:
            run.stop()
        pool.release()  # idempotent: nothing stays held if the check broke off early
    r.waited = procfs.lcores_waited_s() - waited
    return r


def test_exhaustion_counts_nombuf_and_recovers(topology_of, pool, worker, profile, measure):
    """Steps: with frames arriving on a port whose rx path allocates (net_tap fed from the kernel), take every
    free mbuf out of the pool; send frames; give the mbufs back; send again.
    Verify: while dry the port keeps running and counts rx_nombuf (no hang, no crash); afterwards every frame
    arrives again.

    The dry-phase frames are paced (2000/s): net_tap reads only after a SIGIO, and once an allocation
    fails with the kernel's tun queue already full no SIGIO comes again, a stall of net_tap's design
    that is not the deployment's to fix."""
    topo = _exhaustion_topology(topology_of, profile)
    port = topo.rx
    # a run the tester spoiled (the worker lcore preempted while it should poll) is run again; out of
    # retries it is an ERROR "tester overloaded", not a FAIL of the PMD
    for _ in range(perf.SPOILED_RETRIES + 1):
        r = _exhaust_once(topo, pool, worker)
        if (r.dry["rx_nombuf"] > 0 and r.got_wet >= r.sent_wet) or r.waited < perf.PREEMPTED_S:
            break
    else:
        raise OverloadedTesterError(
            f"tester overloaded: {port.driver}: {perf.SPOILED_RETRIES + 1} exhaustion runs in a row while the worker "
            f"lcore waited for a CPU (the last: {r.waited * 1e3:.1f} ms preempted, rx_nombuf {r.dry['rx_nombuf']}, "
            f"{r.got_wet} of {r.sent_wet} frames back): nothing is known about the PMD; re-run on a quieter host")
    held, released, sent_dry, dry, sent_wet, got_wet = r.held, r.released, r.sent_dry, r.dry, r.sent_wet, r.got_wet
    measure("exhaustion_held_mbufs", held, unit="mbufs")
    measure("exhaustion_rx_nombuf", dry["rx_nombuf"], unit="events")
    measure("exhaustion_recovered_frames", got_wet, unit="frames", target=sent_wet)
    assert held == released
    assert dry["rx_nombuf"] > 0, (
        f"{port.driver}: {sent_dry} frames arrived while the pool was empty but rx_nombuf stayed 0; "
        "the PMD does not report allocation failures")
    assert port.link()["up"], f"{port.driver}: the link went down while the pool was dry"
    assert got_wet >= sent_wet, (  # late frames from the dry phase may arrive too
        f"after the mbufs came back only {got_wet} of {sent_wet} frames arrived: the port did not recover "
        "from exhaustion")


def test_lcore_cache_get_put_rate(pool, worker, profile, measure):
    """Steps: on a worker lcore, get and put back bursts of mbufs, once through the lcore's cache and once
    around it.
    Verify: every get succeeds; both rates and their ratio are reported."""
    if pool.stats().cache_size == 0:
        pytest.skip("mempool.cache = 0: the pool has no per-lcore cache to compare")
    bulk = min(profile.queues.burst, pool.stats().avail)
    cached = pool.bench(worker, bulk=bulk, use_cache=True)
    direct = pool.bench(worker, bulk=bulk, use_cache=False)
    measure("mempool_get_put_cached", cached["mops"], unit="Mmbufs/s")
    measure("mempool_get_put_uncached", direct["mops"], unit="Mmbufs/s")
    measure("mempool_cache_speedup", cached["mops"] / direct["mops"] if direct["mops"] else 0.0, unit="x")
    assert cached["failed_gets"] == direct["failed_gets"] == 0, (
        f"bulk gets of {bulk} failed ({cached['failed_gets']} cached, {direct['failed_gets']} direct): "
        "the pool cannot serve one burst; raise mempool.mbufs")
