"""Ports: the deployment's ports come up as the profile configures them and a wire carries every frame."""
import pytest

from harness import traffic

INTEGRITY_FRAMES = 100_000


@pytest.mark.owns_bringup
def test_ports_start_as_configured(harness, pool, profile, measure):
    """Steps: check the profile's queue counts against the PMD's rules and its descriptor counts against the
    device's limits (rte_eth_dev_info rx/tx_desc_lim); configure every port under test with the profile's
    queues, descriptors and pool; start it.
    Verify: bring-up succeeds (else this check FAILS once with DPDK's cause and the profile key to change, and
    every other check needing the ports is skipped naming it); each port reports link up and holds the rx and
    tx queue counts the profile asks for (a device with fewer queues cannot run the deployment as configured)."""
    ports = harness.topology()
    for port in ports.ports:
        info, link = port.info(), port.link(wait_ms=int(profile.ports.link_timeout_s * 1000))
        assert link["up"], (
            f"port {info['name']} ({info['driver']}): link down after {profile.ports.link_timeout_s} s; "
            "check the cable / loopback, or raise ports.link_timeout_s")
        for kind, want, have, most in (("rx", profile.queues.rx, info["nb_rx_queues"], info["max_rx_queues"]),
                                       ("tx", profile.queues.tx, info["nb_tx_queues"], info["max_tx_queues"])):
            assert have == want, (
                f"port {info['name']} ({info['driver']}): {have} {kind} queue(s) configured, the profile asks for "
                f"{want} (queues.{kind}) and the device offers at most {most}; lower queues.{kind} to {most} "
                "or use a device with more queues")
        measure(f"{info['name']}.link_speed", link["speed_mbps"], unit="Mbps")


@pytest.mark.requires("wire", "payload")
def test_wire_delivers_every_frame(ports, pool, worker, profile, measure):
    """Steps: send 100,000 frames of the profile's flow count on the tx port; drain the rx port on the same lcore.
    Verify: every frame tx_burst took arrives, recognised as ours; nothing stays in flight; unsent frames are freed."""
    d = traffic.exchange(ports, worker, pool, INTEGRITY_FRAMES, flows=profile.rss.flows,
                         burst=profile.queues.burst, rate_pps=0 if ports.kind == "ring_wire" else 1_000_000)
    measure("wire_frames_sent", d.sent, unit="frames")
    measure("wire_frames_lost", d.lost, unit="frames", target=0, op="<=")
    assert d.sent + d.unsent == INTEGRITY_FRAMES, (
        f"the generator stopped at {d.sent + d.unsent} of {INTEGRITY_FRAMES} frames; "
        "is the pool large enough (mempool.mbufs)?")
    assert d.ours == d.sent and d.pending == 0, (
        f"sent {d.sent}, received {d.ours} of ours ({d.received} in all), {d.pending} still in flight: "
        f"{ports.describe_ports()} loses frames; check the cable and rx descriptor count (queues.rx_desc)")
