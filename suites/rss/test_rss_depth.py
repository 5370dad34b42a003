"""Multi-queue depth: what each rx queue holds when a burst arrives and nobody polls, and that
every queue delivers again afterwards.

What a queue holds is the device's ring: the rx descriptors on a NIC (queues.rx_desc); on the
kernel-fed vdevs the kernel's queue in front of the PMD (tun's queue for net_tap, the
PACKET_RX_RING frames for net_af_packet), whatever queues.rx_desc says. The figures show which.
"""
from harness import rss
from harness.errors import ProbeError

BURST_PER_DESC = 2          # offered: this many frames per rx descriptor of every queue
RECOVERY_PKTS_PER_QUEUE = 64


def test_queue_depth_under_burst(rss_target, harness, pool, profile, measure):
    """Steps: with no lcore polling, send a burst of 2 x queues.rx_desc frames per rx queue (the
    profile's flows); then poll every queue and count what each held. Then send 64 frames per queue
    with the queues polled.
    Verify: what arrives never exceeds what was sent (held + dropped = offered), per-queue held,
    dropped and the drop ratio are reported against queues.rx_desc; after the overflow every frame
    of the second batch arrives (no queue stays wedged); on NICs each queue holds at least half its
    descriptors."""
    q = profile.queues
    nq = rss_target.queues
    offered = BURST_PER_DESC * q.rx_desc * nq
    flows = rss.harness_flows(max(profile.rss.flows, 4 * nq))
    burst = rss.send_and_capture(rss_target.topo, harness.worker_lcores(), flows, offered, queues=nq, pool=pool,
                                 burst=q.burst, burst_first=True, reset_stats=True)
    held = burst.per_queue
    dropped = burst.sent - burst.received
    measure("rss_depth_offered", burst.sent, unit="pkts", rx_desc=q.rx_desc, queues=nq)
    for i, n in enumerate(held):
        measure(f"rss_depth_queue{i}_held", n, unit="pkts", rx_desc=q.rx_desc)
    measure("rss_depth_dropped", dropped, unit="pkts")
    measure("rss_depth_drop_ratio", dropped / burst.sent if burst.sent else 0.0)
    try:
        st = rss_target.port.stats()
        measure("rss_depth_port_imissed", st["imissed"], unit="pkts")
    except ProbeError:  # a PMD without stats only loses the figure
        pass
    assert burst.sent > 0, f"{rss_target.describe}: the burst of {offered} frames could not be sent"
    assert burst.received <= burst.sent, (
        f"{rss_target.describe}: received {burst.received} of ours from a burst of {burst.sent}; stale frames "
        "of an earlier run were counted")
    if rss_target.device_rss:
        low = [i for i, n in enumerate(held) if n < q.rx_desc // 2]
        measure("rss_depth_min_held", min(held), unit="pkts", target=q.rx_desc // 2, op=">=")
        assert not low, (f"{rss_target.describe}: expected each rx queue to hold at least half its "
                         f"{q.rx_desc} descriptors of a {BURST_PER_DESC}x burst, queues {low} held "
                         f"{[held[i] for i in low]}; "
                         "check that queues.rx_desc descriptors are posted (rx_free_thresh) and mbufs suffice "
                         "(mempool.mbufs)")
    recovery = rss.send_and_capture(rss_target.topo, harness.worker_lcores(), flows[: 4 * nq],
                                    RECOVERY_PKTS_PER_QUEUE * nq, queues=nq, pool=pool, burst=q.burst)
    measure("rss_depth_recovery_received", recovery.received, unit="pkts", target=recovery.sent, op=">=")
    assert recovery.received == recovery.sent, (
        f"{rss_target.describe}: after a burst of {burst.sent} frames overflowed the queues (held {held}), a batch of "
        f"{recovery.sent} frames arrived {recovery.received} (per queue {recovery.per_queue}); a queue stays "
        "stuck after overflow: check the PMD's rx refill (rx_nombuf) and mempool.mbufs")
