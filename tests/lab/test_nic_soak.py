"""The soak's counter checks on the lab's igb pair, the one place here whose PMD keeps rx_nombuf and imissed
(net_ring, the default vdev, keeps neither: there both checks SKIP naming it, tests/mutations/test_soak_mutations.py).

* the sound lab profile: rx_nombuf is JUDGED (not skipped) and passes, as does the whole soak (the lab's
  suites run leaves the soak out: it is collected only with --dpdk-soak); imissed SKIPs naming the emulator;
* a pool that covers the rx rings the ports fill at start but not the tx ring the generator fills:
  soak_rx_nombuf_rate FAILS naming the pool size to set, and so does the pool headroom, one cause.

imissed is not shown failing here, because QEMU's igb never counts it. DPDK's net_e1000_igb reports the MPC
register (missed packets) as rte_eth_stats.imissed, and QEMU's igb model (hw/net/igb_core.c,
igb_receive_internal) never writes MPC. When the rx queue RSS picked has no free descriptor, the model
drops the frame and only raises the RXO interrupt cause. When no enabled queue has one, igb_can_receive()
is false and QEMU holds the frame back at the sender's end (backpressure, not a drop). A starved worker
lcore or a tiny queues.rx_desc therefore leaves imissed at 0 on this NIC, however many frames never
arrive. Real 82576 silicon counts MPC. So on an emulated NIC the imissed check SKIPs, naming QEMU's model
(harness/registry.py EMULATED_NO_IMISSED): a pass there would be a pass on a counter that cannot move. Only a
hardware NIC can show it failing, and faking it would prove nothing.

Each soak lasts SOAK (the minimum is 10 s) in a child pytest that binds the igb pair and gives it back.
"""
import json

import pytest
from labrun import NIC_ARGS, lab_profile, run_suite

SUITE = "suites/soak"
SOAK = "16s"
LIFECYCLE, NOMBUF, IMISSED = "test_soak", "test_soak_rx_nombuf_rate", "test_soak_imissed_rate"

#: profiles/lab-igb.toml: 2 ports x 4 rx queues x 512 descriptors, all filled with mbufs when the ports start
RX_RING_MBUFS = 2 * 4 * 512
BURST = 32  # queues.burst: the generator takes a burst from the pool at once, or nothing


def soak(tmp_path, name, **changes):
    run = run_suite(tmp_path, SUITE, *NIC_ARGS, "--dpdk-soak", SOAK, profile=lab_profile(tmp_path, name, **changes))
    assert run.verdicts, f"the child ran no check (exit {run.returncode}):\n{run.output}"
    reports = sorted(tmp_path.glob("reports-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    result = json.loads((reports / "results.json").read_text())["soak"]
    return run, {c["name"]: c for c in result["checks"]}, result["samples"]


def series(samples, key):
    return [s[key] for s in samples]


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return soak(tmp_path_factory.mktemp("lab-soak-sound"), "lab-soak-sound")


def test_sound_soak_on_igb_judges_rx_nombuf_skips_imissed_and_passes(sound):
    run, checks, samples = sound
    assert run.outcome(NOMBUF) == "passed", (run.verdicts.get(NOMBUF), run.output)  # judged, not skipped
    nombuf = checks["soak_rx_nombuf_rate"]
    assert nombuf["passed"] is True and nombuf["value"] <= 0.0, nombuf
    assert run.outcome(IMISSED) == "skipped", (run.verdicts.get(IMISSED), run.output)
    assert "QEMU's model of it never counts missed frames" in run.message(IMISSED), run.message(IMISSED)
    assert series(samples, "rx_pkts")[-1] > 0, ("the soak moved no traffic over the igb pair", samples[-1])
    assert run.outcome(LIFECYCLE) == "passed", (run.verdicts.get(LIFECYCLE), checks)
    assert run.returncode == 0, run.output


def test_a_pool_that_cannot_refill_the_rx_rings_fails_rx_nombuf_naming_the_pool_size(tmp_path):
    """mempool.mbufs = RX_RING_MBUFS + 8 bursts, no lcore cache: the ports start (their 8 rx rings take 4096
    mbufs) and exactly 8 bursts are left. The generator sends them into port 0's tx ring, where igb keeps
    a sent mbuf until it reuses the descriptor (512 of them: 256 stay parked), so the pool holds 0 when the
    last burst reaches port 1. igb's rx refill then finds no mbuf on every poll: rx_nombuf counts, the
    frames stay in the ring, and nothing frees an mbuf again.

    mempool.cache = 0 keeps the count exact: with a cache the main lcore keeps what is left of its last
    refill after filling the rx rings (16 mbufs with a 256 cache). The generator then stops with up to a
    burst less one free (it takes 32 or nothing), the rx refill always finds its mbuf, and rx_nombuf never
    moves (seen in the lab: 4607 mbufs, 480 parked, 31 free, rx_nombuf 0)."""
    run, checks, samples = soak(tmp_path, "lab-soak-drypool", mempool__mbufs=RX_RING_MBUFS + 8 * BURST,
                                mempool__cache=0)
    need = RX_RING_MBUFS * 2 + 2 * BURST  # mbufs_required: rx + tx rings, 2 lcores x (burst + cache 0)
    fix = f"set mempool.mbufs >= {need} (e.g. 16383), what the rings, bursts and caches hold"

    nombuf = checks["soak_rx_nombuf_rate"]
    assert run.outcome(NOMBUF) == "failed", (run.verdicts.get(NOMBUF), samples, run.output)
    assert nombuf["passed"] is False and nombuf["value"] > 0, nombuf
    msg = run.message(NOMBUF)
    assert "soak_rx_nombuf_rate: rx_nombuf (rx found no free mbuf) grew at" in msg, msg
    assert f"expected 0/s; {fix}" in msg, msg

    # the same dry pool, seen by the worker's loops: the headroom check fails too, naming the same number
    head = checks["soak_pool_headroom_min"]
    assert head["passed"] is False and head["value"] < head["target"] == BURST, head
    lifecycle = run.message(LIFECYCLE)
    assert run.outcome(LIFECYCLE) == "failed", (run.verdicts.get(LIFECYCLE), checks)
    assert "soak_pool_headroom_min: the pool's free mbufs fell to" in lifecycle and fix in lifecycle, lifecycle
    # one cause: nothing leaked (the mbufs sit in the rings, a flat in-use series)
    assert checks["soak_mbufs_in_use_slope"]["passed"] is True, (checks["soak_mbufs_in_use_slope"], samples)
    assert "soak_mbufs_in_use_slope: mbufs in use trend" not in lifecycle, lifecycle  # the text holds a traceback
