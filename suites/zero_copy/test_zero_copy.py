"""Zero-copy paths: packets move through the data path without copies, in memory the NIC can reach."""
import time

import pytest

from harness import probe, traffic, zerocopy
from harness.probe import Packet, Run, Task

TRACED_PACKETS = 512


def _rx_queues(ports) -> int:
    return ports.port_conf.nb_rxq if ports.port_conf else 1


def _traced_forward(ports, pool, worker, profile, flags=0):
    """gen(tx) -> wire -> fwd(rx -> rx) -> wire -> sink(tx), the first packets traced; with RSS the
    flows spread over every rx queue, so each queue has its forwarder and its receiver."""
    nq = _rx_queues(ports)
    ntx = ports.port_conf.nb_txq if ports.port_conf else 1
    tasks = ([Task.gen(ports.tx)] + [Task.fwd(ports.rx, ports.rx, q, q % ntx) for q in range(nq)]
             + [Task.sink(ports.tx, q) for q in range(nq)])
    run = Run(worker, tasks, pool=pool, burst=profile.queues.burst, flows=profile.rss.flows,
              count=TRACED_PACKETS * 2, trace=4 * TRACED_PACKETS, flags=flags)
    try:
        run.wait_generated(5)
        time.sleep(0.05)
    finally:
        trace = run.trace()
    traffic.drain(ports, worker)
    return run.stats(), trace


@pytest.mark.requires("wire", "payload")
def test_forwarding_is_zero_copy(ports, pool, worker, profile, measure):
    """Steps: generate frames on one port; a forwarding stage receives them on the other port and transmits
    them back; a receiver takes them; the first packets' mbuf and data addresses are traced at every stage.
    Verify: every hop hands on the same mbuf and data address (on a ring wire the wire too), the generator's
    bytes arrive unchanged, and copies per packet are 0."""
    stats, trace = _traced_forward(ports, pool, worker, profile)
    nq = _rx_queues(ports)
    where = (f"rx port {ports.rx.name} queue 0 -> tx port {ports.rx.name} queue 0" if nq == 1 else
             f"rx port {ports.rx.name} queues 0..{nq - 1} -> tx port {ports.rx.name}")
    a = zerocopy.analyse(trace, fwd_where=where, wire_identity=ports.kind == "ring_wire", queues=nq)
    measure("zero_copy_packets_traced", a.packets, unit="packets")
    measure("copies_per_packet", a.copies_per_packet, target=0, op="<=")
    assert a.packets >= TRACED_PACKETS // 4, (
        f"only {a.packets} packets made it through every stage; the forward path is not passing traffic")
    assert a.copies == 0, zerocopy.copy_message(a)
    assert a.not_intact == 0, (
        f"{a.not_intact} of {a.packets} packets arrived with the generator's bytes changed: the path rewrites "
        "packet data it should only pass on")


def test_buffers_in_hugepages_with_valid_iova(pool, profile, measure):
    """Steps: take 64 mbufs from the pool and inspect each buffer.
    Verify: buffers are in hugepage memory with a valid IOVA (rte_mem_virt2iova is not RTE_BAD_IOVA) equal
    to the mbuf's buf_iova; the headroom is RTE_PKTMBUF_HEADROOM; buffers are cache-line aligned."""
    pkts = [Packet.alloc(pool, 0) for _ in range(64)]
    try:
        infos = [p.info() for p in pkts]
    finally:
        for p in pkts:
            p.free()
    bad_iova = [i for i in infos if i["virt2iova"] == (1 << 64) - 1 or i["virt2iova"] != i["buf_iova"]]
    small_pages = {i["page_sz"] for i in infos if i["page_sz"] < 2 * 1024 * 1024}
    measure("mbuf_page_size", min(i["page_sz"] for i in infos), unit="bytes", target=2 * 1024 * 1024)
    assert not bad_iova, (
        f"{len(bad_iova)} of 64 buffers have no valid IOVA (e.g. buf 0x{bad_iova[0]['buf_addr']:x}: "
        f"virt2iova 0x{bad_iova[0]['virt2iova']:x}, buf_iova 0x{bad_iova[0]['buf_iova']:x}): the NIC cannot DMA "
        "them; run EAL with hugepages and a working IOVA mode")
    assert not small_pages, (
        f"buffers live in {sorted(small_pages)}-byte pages, not hugepages: set eal.hugepages = true")
    assert {i["data_off"] for i in infos} == {128}, f"headroom {sorted({i['data_off'] for i in infos})}, expected 128"
    assert all(i["buf_addr"] % 64 == 0 for i in infos), "buffers are not cache-line (64-byte) aligned"
    assert {i["buf_len"] for i in infos} == {profile.mempool.data_room}, "buffer length differs from mempool.data_room"


@pytest.mark.requires("wire", "payload")
def test_python_sees_packets_without_copying(ports, pool):
    """Steps: send one frame over the wire and receive it from Python; open a memoryview over its data.
    Verify: the view shows the frame's bytes at the mbuf's own data address; a write through the view is what C
    reads; once the mbuf is freed the view cannot be used."""
    Packet.alloc(pool, 64).tx(ports.tx)
    pkt = Packet.receive(ports.rx)
    try:
        view = pkt.view()
        addr = zerocopy.buffer_address(view)
        assert addr == pkt.info()["data_addr"], "the view is over a copy, not the mbuf's data"
        assert bytes(view[0:6]) == bytes.fromhex("020000000002") and bytes(view[12:14]) == b"\x08\x00", (
            f"the view does not show the frame sent: {bytes(view[:14]).hex()}")
        view[59] ^= 0xFF
        assert pkt.c_byte(59) == view[59], "a write through the view is not what C reads"
    finally:
        pkt.free()
    with pytest.raises(ValueError):
        view[0]  # released with the mbuf: no use-after-free through the API


@pytest.mark.requires("wire")
def test_external_buffer_sent_without_copy_and_freed_once(ports, pool, measure):
    """Steps: attach 32 mbufs to external buffers (rte_pktmbuf_attach_extbuf with a free callback); send them;
    receive and free them.
    Verify: on a ring wire the received mbufs are the ones sent, still on their external buffers (no copy);
    the free callback fires exactly once per buffer, and only after the mbufs are done with."""
    n, ext = 32, probe.extbuf_set()
    pkts, got = [], []
    try:  # every mbuf taken goes back, whatever fails on the way (the leak guard would name this check)
        pkts += [Packet.external(pool, ext) for _ in range(n)]
        sent = {p.info()["mbuf"]: p.info()["data_addr"] for p in pkts}
        for p in pkts:
            p.tx(ports.tx)
        got += [Packet.receive(ports.rx) for _ in range(n)]
        infos = [g.info() for g in got]
        early = ext.freed
    finally:
        for p in pkts + got:
            p.free()  # a no-op for what tx took or was already freed
    assert early == 0, f"the free callback fired {early} times before the buffers were done with"
    if ports.reclaim_tx():  # a NIC frees sent mbufs lazily; without tx_done_cleanup, stopping frees them
        ports.tx.stop()
        ports.tx.start()
    deadline = time.monotonic() + 2
    while ext.freed < n and time.monotonic() < deadline:
        time.sleep(0.01)
    measure("extbuf_callbacks", ext.freed, target=n, unit="calls")
    if ports.kind == "ring_wire":
        assert {i["mbuf"]: i["data_addr"] for i in infos} == sent, "the wire handed over copies of the mbufs"
        assert all(i["flags"] & 2 for i in infos), "received mbufs are no longer attached to external buffers"
    assert ext.freed == n and ext.extra_frees == 0, (
        f"the external-buffer free callback fired {ext.freed} times for {n} buffers ({ext.extra_frees} extra)")


def test_clone_shares_data_and_buffer_returns_once(pool):
    """Steps: clone an mbuf (an indirect mbuf); free the clone, then the original.
    Verify: the clone shares the data (same address, refcount 2); freeing the clone keeps the buffer; freeing
    the original returns it to the pool exactly once."""
    base = pool.stats().in_use
    orig = Packet.alloc(pool, 64)
    clone = None
    try:  # both go back to the pool whatever the verdict
        clone = orig.clone(pool)
        o, c = orig.info(), clone.info()
        assert c["flags"] & 1 and c["data_addr"] == o["data_addr"], "the clone does not share the original's data"
        assert o["refcnt"] == 2, f"refcount {o['refcnt']} with one clone, expected 2"
        clone.free()
        assert orig.info()["refcnt"] == 1 and pool.stats().in_use == base + 1, "freeing the clone released the buffer"
    finally:
        if clone is not None:
            clone.free()
        orig.free()
    assert pool.stats().in_use == base, f"{pool.stats().in_use - base} mbufs not returned after freeing both"


@pytest.mark.requires("wire")
def test_multi_segment_frames_stay_chained(ports, pool, profile):
    """Steps: with mempool.scatter on, build a jumbo frame as a chain of segments; send and receive it.
    Verify: it arrives with the same segment count and length: chained, not linearised."""
    if not profile.mempool.scatter:
        pytest.skip("mempool.scatter = false: the deployment keeps every frame in one segment")
    seg = profile.mempool.data_room - 128
    total = max(profile.mempool.mtu + 18, 3 * seg)
    pkt = Packet.chain(pool, total, seg)
    want = pkt.info()
    pkt.tx(ports.tx)
    with Packet.receive(ports.rx) as got:
        info = got.info()
    assert (info["nb_segs"], info["pkt_len"]) == (want["nb_segs"], want["pkt_len"]), (
        f"sent {want['nb_segs']} segments / {want['pkt_len']} bytes, received {info['nb_segs']} / {info['pkt_len']}: "
        "the path linearises multi-segment frames")


@pytest.mark.requires("wire", "payload")
def test_what_a_copy_costs(ports, pool, worker, profile, measure):
    """Steps: measure the gen -> fwd -> sink rate for measure.duration_s with the forwarder passing mbufs on,
    then with it copying each packet.
    Verify: the zero-copy run copied nothing and the copying run copied; both rates and their ratio are reported."""
    rates, copies = {}, {}
    for name, flags in (("zero_copy", 0), ("copying", probe.F_COPY_FWD)):
        nq = _rx_queues(ports)
        ntx = ports.port_conf.nb_txq if ports.port_conf else 1
        tasks = ([Task.gen(ports.tx)] + [Task.fwd(ports.rx, ports.rx, q, q % ntx) for q in range(nq)]
                 + [Task.sink(ports.tx, q) for q in range(nq)])
        st = probe.run_for(profile.measure.duration_s, worker, tasks, pool=pool, burst=profile.queues.burst,
                           flows=profile.rss.flows, flags=flags)
        traffic.drain(ports, worker)
        fwd_ids, sink_ids = zerocopy.traced_task_ids(nq)
        rates[name] = sum(st.tasks[i]["rx_ours"] for i in sink_ids) / st.elapsed_s
        copies[name] = sum(st.tasks[i]["copies"] for i in fwd_ids)
    measure("fwd_pps_zero_copy", rates["zero_copy"], unit="pps")
    measure("fwd_pps_copying", rates["copying"], unit="pps")
    measure("copy_cost_ratio", rates["zero_copy"] / rates["copying"] if rates["copying"] else 0.0, unit="x")
    assert copies["copying"] > 0, "the copying run did not copy: the comparison measures nothing"
    assert copies["zero_copy"] == 0 or probe.active_faults(), f"the zero-copy run copied {copies['zero_copy']} packets"
