"""The RSS part of the probe (harness/native/rss.c) on real DPDK: rte_softrss against the
Python oracle, RSS configuration calls on devices without RSS, the capture loop and the
kernel-side flow injector on ring_wire, tap and af_packet.

The machine is shared: a capture that lost frames while its worker lcore waited for a CPU (schedstat) says
nothing about the probe or the kernel, so it is run again (:func:`perf.judgeable_run`, the suites' rule);
out of retries the check is an ERROR "tester overloaded", never a FAIL and never a pass."""
import errno
import random

import pytest

from harness import perf, rss
from harness.errors import ProbeInvalidError, ProbeUnsupportedError

VECTORS = rss.MS_VECTORS_V4 + rss.MS_VECTORS_V6


@pytest.mark.parametrize("vector", VECTORS, ids=[v[2] for v in VECTORS])
def test_softrss_gives_the_published_hashes(vector):
    dst, dport, src, sport, h_l3, h_l4 = vector
    flow = rss.Flow.of(src, dst, sport, dport)
    for be in (False, True):
        assert rss.softrss(flow, rss.DEFAULT_KEY, l4=False, be=be) == h_l3
        assert rss.softrss(flow, rss.DEFAULT_KEY, l4=True, be=be) == h_l4


def test_softrss_agrees_with_the_oracle_on_random_flows_and_keys():
    rnd = random.Random(4)
    for i in range(400):
        key = bytes(rnd.randrange(256) for _ in range(rnd.choice((40, 52))))
        v6 = i % 2 == 1
        bits = 128 if v6 else 32
        flow = rss.Flow(rnd.getrandbits(bits), rnd.getrandbits(bits), rnd.getrandbits(16), rnd.getrandbits(16), v6)
        for l4 in (False, True):
            want = rss.flow_hash(flow, key, l4)
            assert rss.softrss(flow, key, l4=l4) == want, (flow, key.hex(), l4)
            assert rss.softrss(flow, key, l4=l4, be=True) == want
            assert rss.toeplitz(key, rss.hash_input(flow, l4)) == want


def test_softrss_refuses_a_key_too_short_for_the_tuple():
    flow = rss.Flow.of("3ffe::1", "3ffe::2", 1, 2)
    with pytest.raises(ProbeInvalidError) as info:
        rss.softrss(flow, rss.DEFAULT_KEY[:36])  # the IPv6 4-tuple needs 36 + 4 bytes
    assert info.value.errno == errno.EINVAL


def _judged(capture, count: int, what: str):
    """``capture()`` of ``count`` frames, run again while it loses frames with its lcore off the CPU."""
    return perf.judgeable_run(capture, lambda d: (count, d.sent, d.received), what=what)


@pytest.fixture
def wire(topology_of):
    """A ring wire, whatever --vdev says: what port A sends, port B receives, on one queue."""
    return topology_of("ring_wire", queues=1)


def test_rss_configuration_calls_report_enotsup_on_net_ring(wire):
    port = wire.rx
    with pytest.raises(ProbeUnsupportedError) as info:
        rss.hash_conf(port)
    assert "net_ring" in str(info.value) and "rss_hash_conf_get" in str(info.value)
    with pytest.raises(ProbeUnsupportedError) as info:
        rss.reta_query(port)
    assert "net_ring" in str(info.value)
    with pytest.raises(ProbeUnsupportedError):
        rss.reta_update(port, [0] * 64)
    with pytest.raises(ProbeUnsupportedError):
        rss.hash_update(port, 0)


def test_capture_sends_and_records_every_packet_over_a_ring_wire(wire, pool, worker):
    flows = rss.harness_flows(37)
    d = _judged(lambda: rss.send_and_capture(wire, [worker], flows, 1000, queues=wire.port_conf.nb_rxq, pool=pool),
                1000, "ring wire: 1000 frames of 37 flows")
    assert d.sent == 1000 and d.received == 1000
    packets = d.result.ours()
    assert len(packets) == 1000 and d.result.stats["not_stored"] == 0
    assert {p.flow for p in packets} == set(flows)          # the tuple read back from each frame
    assert all(p.queue == 0 and not p.has_hash for p in packets)  # net_ring: one queue, no hash
    counts = {}
    for p in packets:
        counts[p.flow] = counts.get(p.flow, 0) + 1
    assert set(counts.values()) <= {27, 28}                  # round robin over the flows


def test_capture_burst_first_sends_everything_before_polling(wire, pool, worker):
    flows = rss.harness_flows(8)
    d = _judged(lambda: rss.send_and_capture(wire, [worker], flows, 500, queues=1, pool=pool, burst_first=True),
                500, "ring wire: 500 frames sent before polling")
    assert d.sent == 500 and d.received == 500


def test_capture_counts_what_it_cannot_store(wire, pool, worker):
    flows = rss.harness_flows(4)
    cap = rss.Capture(worker, wire.rx, [0], max_pkts=100, tx_port=wire.tx, tx_flows=flows, tx_count=300, pool=pool)
    try:
        cap.wait_sent(2.0)
        cap.wait(300, 2.0)
    finally:
        res = cap.stop()
    assert res.stats["captured"] == 100 and res.stats["not_stored"] == 200 and res.stats["ours"] == 300
    assert len(res.packets) == 100


def test_capture_rejects_the_main_lcore_and_bad_queues(wire, eal):
    main = next(lc["lcore_id"] for lc in eal.lcores() if lc["is_main"])
    with pytest.raises(ProbeInvalidError):
        rss.Capture(main, wire.rx, [0], max_pkts=1)
    with pytest.raises(ProbeInvalidError):
        rss.Capture(eal.worker_lcores()[0], wire.rx, [64], max_pkts=1)


def test_tx_refuses_flows_outside_the_benchmarking_range(wire, pool, worker):
    with pytest.raises(ProbeInvalidError):
        rss.Capture(worker, wire.rx, [0], max_pkts=1, tx_port=wire.tx, tx_count=1, pool=pool,
                    tx_flows=[rss.Flow.of("10.0.0.1", "198.19.0.1", 1, 2)])


@pytest.mark.parametrize("kind", ["tap", "af_packet"])
def test_kernel_fed_capture_keeps_each_flow_on_one_queue(kind, topology_of, worker):
    topo = topology_of(kind, queues=4)
    flows = rss.harness_flows(256)
    d = _judged(lambda: rss.send_and_capture(topo, [worker], flows, 2048, queues=4), 2048,
                f"{kind}: 2048 frames of 256 flows fed from the kernel")
    assert d.sent == 2048
    assert d.received == 2048, f"{kind}: injected 2048, captured {d.per_queue}"
    assert all(n > 0 for n in d.per_queue), f"{kind}: the kernel's hash left a queue empty: {d.per_queue}"
    assert rss.flows_off_their_queue(d) == {}
    assert {p.flow for p in d.result.ours()} == set(flows)
    assert not any(p.has_hash for p in d.result.ours())    # the kernel hashes, the PMD reports nothing
    assert d.result.stats["q_pkts"][:4] == [sum(1 for p in d.result.packets if p.queue == q) for q in range(4)]
    assert all(d.result.stats["q_polls"][q] > 0 for q in range(4))


@pytest.mark.parametrize("kind", ["tap", "af_packet"])
def test_kernel_hash_is_symmetric(kind, topology_of, worker):
    """The kernel spreads by a symmetric flow hash: both directions of a flow share a queue."""
    topo = topology_of(kind, queues=4)
    flows = rss.harness_flows(64)
    both = flows + [f.reversed() for f in flows]
    d = _judged(lambda: rss.send_and_capture(topo, [worker], both, 256, queues=4), 256,
                f"{kind}: 256 frames of 64 flows both ways fed from the kernel")
    assert d.received == 256
    by_pair: dict = {}
    for p in d.result.ours():
        by_pair.setdefault(p.flow.key(), set()).add(p.queue)
    assert len(by_pair) == 64 and all(len(qs) == 1 for qs in by_pair.values())


def test_inject_refuses_flows_outside_the_benchmarking_range(topology_of):
    topo = topology_of("tap", queues=4)
    with pytest.raises(ProbeInvalidError):
        rss.inject(topo, [rss.Flow.of("192.168.1.1", "198.19.0.1", 1, 2)], 1)
