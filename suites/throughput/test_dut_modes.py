"""The DUT modes the throughput checks can measure through, each shown to carry traffic here:
a NIC port in internal loopback, and an external DPDK application (dpdk-testpmd) over memif.
(The port pair with a wire is the default path of the NDR and latency checks.)"""
import pytest

from harness import perf
from harness.errors import OverloadedTesterError

#: the low load every DUT path must carry without loss
LOW_RATE_PPS = 100_000


def test_internal_loopback_returns_every_frame(harness, profile, worker, pool, search_profile, measure):
    """Steps: on a profile with ports.loopback = "internal", the one NIC port is configured with the PMD's
    lpbk_mode; offer LOW_RATE_PPS for one trial and receive on the same port.
    Verify: the port runs the profile's lpbk_mode and every frame comes back. SKIP without such a NIC."""
    if not (profile.ports.nic_mode and profile.ports.loopback == "internal"):
        pytest.skip("needs one NIC port in PMD internal loopback (ports.loopback = \"internal\", lpbk_mode > 0, "
                    "--nic PCI, e.g. profiles/nic-internal-loopback.toml); this run tests "
                    + (f"NIC ports with loopback {profile.ports.loopback!r}" if profile.ports.nic_mode
                       else f"vdev topology {profile.ports.topology}"))
    topo = harness.topology()
    port = topo.ports[0]
    assert topo.port_conf.lpbk_mode == profile.ports.lpbk_mode, (
        f"{port.name}: configured with lpbk_mode {topo.port_conf.lpbk_mode}, expected {profile.ports.lpbk_mode}")
    tester = perf.Tester(worker, pool, port, port, rx_queues=topo.port_conf.nb_rxq, burst=profile.queues.burst,
                         flows=profile.rss.flows, frames=64, drain_s=search_profile.drain_s)
    t = perf.judgeable_trial(lambda: tester.trial(LOW_RATE_PPS, max(search_profile.trial_s, 0.1)),
                             what=f"{port.name} in internal loopback at {LOW_RATE_PPS:,} pps")
    measure("internal_loopback_received", t.received, intended=t.intended, lost=t.lost)
    assert t.device_lost == 0 and t.passes(), (
        f"{port.name} ({port.driver}) in internal loopback (lpbk_mode {profile.ports.lpbk_mode}): "
        f"{t.line()}; expected every frame back: check the PMD supports this lpbk_mode")


def test_external_application_forwards_over_memif(request, profile, worker, pool, search_profile, measure):
    """Steps: create a net_memif server port here (rte_vdev_init) and start dpdk-testpmd (its own process,
    --file-prefix, --no-pci, io forwarding, both lcores on a CPU no worker of ours uses) as its memif client;
    offer LOW_RATE_PPS for one trial, then search the 64-byte NDR through it.
    Verify: every frame comes back at the low rate, and the search finds a zero-loss rate above it.
    SKIP with the reason when testpmd or net_memif is missing or no CPU is free for testpmd."""
    path = request.getfixturevalue("memif_dut")
    tester = path.tester(worker, pool, burst=profile.queues.burst, flows=profile.rss.flows, frames=64,
                         drain_s=search_profile.drain_s)
    low = perf.judgeable_trial(lambda: tester.trial(LOW_RATE_PPS, max(search_profile.trial_s, 0.1)),
                               what=f"{path.description} at {LOW_RATE_PPS:,} pps")
    res = perf.throughput(tester, search_profile)
    stats = path.testpmd.port_stats().get(0)
    measure("memif_testpmd_ndr_pps_64B", res.ndr.rate, unit="pps", dut=path.description,
            ceiling=f"{res.ceiling.offered_pps:.0f}", trials=len(res.ndr.trials),
            testpmd_rx=stats.rx if stats else "", testpmd_tx=stats.tx if stats else "")
    assert low.device_lost == 0, (f"{path.description}: {low.line()}; expected every frame handed to it back at "
                                  f"{LOW_RATE_PPS:,} pps: the application lost {low.device_lost}")
    assert low.passes(), (f"{path.description}: {low.line()}; the generator fell {low.tester_short} frames short at "
                          f"{LOW_RATE_PPS:,} pps with no pause of its lcore to explain it")
    if res.ndr.rate <= LOW_RATE_PPS and res.ndr.tester_overload(LOW_RATE_PPS):
        raise OverloadedTesterError(f"tester overloaded: {path.description}: zero-loss rate {res.ndr.rate:,.0f} pps: "
                                    f"{res.ndr.tester_overload(LOW_RATE_PPS)}")
    assert res.ndr.rate > LOW_RATE_PPS, (
        f"{path.description}: zero-loss rate {res.ndr.rate:,.0f} pps, expected above {LOW_RATE_PPS:,} pps "
        f"(trials: {'; '.join(t.line() for t in res.ndr.trials[-3:])})")
