"""The perf part of the probe (harness/native/perf.c) on real DPDK: its frames are the probe's, its
histogram is Python's, the generator, receiver and calibrated DUT count what happens on a ring wire,
and dpdk-testpmd is driven and cleaned up.

The machine is shared: a paced trial whose generator fell behind while its lcore was off the CPU
(:meth:`perf.TrialResult.spoiled`) says nothing about the probe, so it is run again
(:func:`perf.judgeable_trial`, as the suites do); out of retries the check is an ERROR "tester overloaded",
never a FAIL and never a pass. Unpaced runs of a fixed count on a ring wire lose nothing however late the
lcore runs: they wait for their frames instead of sleeping a fixed time."""
import os
import time

import pytest

from harness import perf, traffic
from harness.errors import ProbeInvalidError, ProbeNotFoundError, UsageError
from harness.probe import Packet, lib
from harness.system import testpmd


@pytest.fixture
def wire(topology_of):
    """A ring wire, whatever --vdev says: what port A sends, port B receives (and back)."""
    return topology_of("ring_wire", queues=1)


def _wait_received(run, task: int, count: int, timeout_s: float = 5.0) -> None:
    """Until receiver ``task`` has ``count`` distinct frames, or ``timeout_s``: a ring wire keeps what it was
    given, so a fixed-count run waits for its frames rather than for a time a preempted lcore may overrun."""
    deadline = time.monotonic() + timeout_s
    while run.stats()["tasks"][task]["unique"] < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_perf_frames_are_the_probes_frames(pool):
    for size in (64, 65, 128, 1518):
        with Packet.alloc(pool, size) as pkt:
            probe_frame = bytes(pkt.view())
        tsc = int.from_bytes(probe_frame[52:60], "little")
        assert perf.build_frame(size, flow=0, seq=0, tsc=tsc) == probe_frame
    f = perf.build_frame(64, flow=0x12345, seq=7, tsc=9)
    assert f[26:30] == bytes([198, 18, 0x23, 0x45]) and int.from_bytes(f[34:36], "big") == 1024 + 1
    assert f[30:34] == bytes([198, 19, 0, 1]) and int.from_bytes(f[36:38], "big") == 5001
    assert f[42:44] == b"DH" and int.from_bytes(f[44:52], "little") == 7 and int.from_bytes(f[52:60], "little") == 9


def test_histogram_index_matches_python(harness):
    values = list(range(0, 300)) + [(1 << e) + d for e in range(6, 64) for d in (-1, 0, 1, (1 << e) // 3)]
    for v in values:
        v = min(v, 2**64 - 1)
        assert lib.probe_perf_hist_index(v) == perf.hist_index(v), v


def test_measured_tsc_frequency_is_close_to_eals(wire, worker, pool):
    hz = perf.measured_tsc_hz()
    with perf.PerfRun(worker, [perf.PerfTask.recv(wire.rx)]) as run:
        pass
    eal_hz = run.stats()["tsc_hz"]
    assert abs(hz / eal_hz - 1) < 0.02, (hz, eal_hz)


def test_a_trial_counts_every_frame(wire, worker, pool):
    """Loss and order are judged on every frame; latency on the sample the generator stamped (1 in
    perf.LAT_SAMPLE by default: sequence numbers 0, 16, 32, ... of the trial's 20000)."""
    t = perf.Tester(worker, pool, wire.tx, wire.rx, flows=64, frames=64, pending=wire.pending)
    r = perf.judgeable_trial(lambda: t.trial(200_000, 0.1), what="200 kpps of 64-byte frames on a ring wire")
    assert r.intended == r.attempted == r.sent == r.received == 20_000
    assert (r.lost, r.dups, r.reordered, r.late, r.unsent, r.foreign) == (0, 0, 0, 0, 0, 0)
    stamped = 20_000 // perf.LAT_SAMPLE
    assert perf.LAT_SAMPLE == 16 and r.latency.count == stamped and r.latency.sample == perf.LAT_SAMPLE
    assert 0 < r.latency.min <= r.latency.p50 <= r.latency.p99 <= r.latency.max
    assert f"{stamped} sampled frames (1 in 16)" in r.latency.line()
    assert abs(r.rate_error) < 0.005 and r.passes()
    assert len(r.hist) == perf.HIST_BUCKETS and sum(r.hist) == stamped


def test_a_trial_with_period_1_times_every_frame(wire, worker, pool):
    t = perf.Tester(worker, pool, wire.tx, wire.rx, flows=64, frames=64, pending=wire.pending, lat_sample=1)
    r = perf.judgeable_trial(lambda: t.trial(200_000, 0.05), what="200 kpps, every frame timed")
    assert r.received == r.intended == 10_000 and r.lost == 0, r.line()
    assert r.latency.count == sum(r.hist) == 10_000 and r.latency.sample == 1
    assert "10000 frames (every frame timed)" in r.latency.line()


def test_generator_stamps_the_frames_whose_sequence_is_a_multiple_of_the_period(wire, worker, pool):
    """Bursts of 5 against a period of 8: every burst starts at another offset in the period. On the
    wire, exactly the frames with (seq - seq_base) % 8 == 0 carry a TSC; the others carry 0."""
    with perf.PerfRun(worker, [perf.PerfTask.gen(wire.tx, count=100, seq_base=7, lat_sample=8)], pool=pool,
                      burst=5) as run:
        run.wait_generated(2)
    assert run.stats()["tasks"][0]["sent"] == 100
    wrong = []
    for _ in range(100):
        with Packet.receive(wire.rx, 0) as pkt:
            f = bytes(pkt.view())
        seq, tsc = int.from_bytes(f[44:52], "little"), int.from_bytes(f[52:60], "little")
        if (tsc != 0) != ((seq - 7) % 8 == 0):
            wrong.append((seq, tsc))
    assert not wrong, f"(seq, stamp) of frames stamped against the period 8 from seq_base 7: {wrong[:8]}"


@pytest.mark.parametrize("period", [1, 16])
def test_receiver_times_the_stamped_frames_only(wire, worker, pool, period):
    """A paced run of 10000 frames (bursts of every size the schedule gives): every frame received,
    lat_count the stamped ones among them, ceil(10000 / period), and the histogram holds as many."""
    gen = perf.PerfTask.gen(wire.tx, count=10_000, rate_pps=1_000_000, seq_base=3, lat_sample=period)
    with perf.PerfRun(worker, [gen, perf.PerfTask.recv(wire.rx, seq_base=3, count=10_000)], pool=pool) as run:
        run.wait_generated(2)
        deadline = time.monotonic() + 2
        while run.stats()["tasks"][1]["unique"] < 10_000 and time.monotonic() < deadline:
            time.sleep(0.01)
    g, rx = run.stop()["tasks"]
    stamped = -(-10_000 // period)
    assert g["sent"] == rx["unique"] == rx["rx_pkts"] == 10_000 and rx["dups"] == rx["reordered"] == 0
    assert rx["lat_count"] == sum(run.hist(1)) == stamped, (rx["lat_count"], stamped)
    assert 0 < rx["lat_min"] <= rx["lat_max"] and rx["lat_sum"] >= rx["lat_min"] * stamped


def test_perf_generator_refuses_a_period_that_is_not_a_power_of_two(wire, worker, pool):
    with pytest.raises(UsageError, match="power of two"):
        perf.PerfTask.gen(wire.tx, lat_sample=12)
    task = perf.PerfTask(perf.ROLE_GEN, tx_port=wire.tx.id, lat_sample=12)  # past Python's check: C refuses
    with pytest.raises(ProbeInvalidError):
        perf.PerfRun(worker, [task], pool=pool)


@pytest.mark.parametrize("frames", ["imix", "jumbo", (64, 1518, 9000)])
def test_imix_and_jumbo_frames_go_through(wire, worker, pool, frames):
    t = perf.Tester(worker, pool, wire.tx, wire.rx, frames=frames, pending=wire.pending)
    r = perf.judgeable_trial(lambda: t.trial(50_000, 0.1), what=f"50 kpps of {perf.frames_label(frames)} frames")
    assert r.received == r.intended == 5000 and r.lost == 0, r.line()
    with perf.PerfRun(worker, [perf.PerfTask.gen(wire.tx, count=12, frames=frames, seq_base=1),
                               perf.PerfTask.recv(wire.rx, seq_base=1, count=12)], pool=pool) as run:
        run.wait_generated(2)
        _wait_received(run, 1, 12)
    g, rx = run.stop()["tasks"]
    sizes = perf.frame_pattern(frames)
    want = sum(sizes[i % len(sizes)] - 4 for i in range(12))  # without the FCS
    assert g["sent_bytes"] == rx["rx_bytes"] == want and rx["unique"] == 12


def test_frames_of_an_earlier_trial_are_stale_not_received(wire, worker, pool):
    t = perf.Tester(worker, pool, wire.tx, wire.rx, pending=wire.pending)

    def after_an_earlier_run():  # a retry starts over: 500 frames of another run left in the wire first
        if wire.pending():
            traffic.drain(wire, worker)  # what a spoiled attempt left behind
        with perf.PerfRun(worker, [perf.PerfTask.gen(wire.tx, count=500, seq_base=10)], pool=pool) as run:
            run.wait_generated(2)
        assert wire.pending() == 500
        return t.trial(100_000, 0.05)

    r = perf.judgeable_trial(after_an_earlier_run, what="100 kpps behind 500 stale frames")
    assert r.stale == 500 and r.received == r.intended and r.lost == 0


def _send_received(run, wire, pool, base, seqs, unstamped=()):
    """One 64-byte frame per sequence number (base + seq) into the wire, those in ``unstamped`` with TSC stamp 0;
    then wait up to 2 s for the receiver of ``run`` to count them all."""
    seqs = list(seqs)
    for seq in seqs:
        pkt = Packet.alloc(pool, 64)
        view = pkt.view()
        view[44:52] = (base + seq).to_bytes(8, "little")
        if seq in unstamped:
            view[52:60] = bytes(8)
        pkt.tx(wire.tx)
    deadline = time.monotonic() + 2
    while run.stats()["tasks"][0]["rx_pkts"] < len(seqs) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_receiver_counts_duplicates_reordering_and_loss(wire, worker, pool):
    """Frames sent one at a time with chosen sequence numbers: 0 1 2 5 3 3 4 of 10 expected."""
    run = perf.PerfRun(worker, [perf.PerfTask.recv(wire.rx, seq_base=1000, count=10)])
    try:
        _send_received(run, wire, pool, 1000, (0, 1, 2, 5, 3, 3, 4))
    finally:
        st = run.stop()["tasks"][0]
    assert (st["rx_pkts"], st["unique"], st["dups"], st["reordered"], st["seq_max"]) == (7, 6, 1, 2, 5)
    assert st["lat_count"] == 7


def test_receiver_counts_but_does_not_time_unstamped_frames(wire, worker, pool):
    """Frames 0..5, the odd ones with stamp 0: all six received, three timed."""
    run = perf.PerfRun(worker, [perf.PerfTask.recv(wire.rx, seq_base=2000, count=6)])
    try:
        _send_received(run, wire, pool, 2000, range(6), unstamped={1, 3, 5})
    finally:
        st = run.stop()["tasks"][0]
    assert (st["rx_pkts"], st["unique"], st["lat_count"]) == (6, 6, 3) and sum(run.hist(0)) == 3


def test_calibrated_dut_forwards_its_capacity_and_drops_the_rest(wire, worker, pool):
    a, b = wire.ports
    dut = perf.CalibratedDut(1_000_000, queue=64)
    t = perf.Tester(worker, pool, a, a, dut=dut, dut_ports=(b, b), pending=wire.pending)
    cap = dut.exact_capacity(t.tsc_hz())
    under = perf.judgeable_trial(lambda: t.trial(cap * 0.98, 0.1), what="98 % of a 1 Mpps calibrated DUT")
    assert under.lost == 0 and under.dut["dut_drops"] == 0, under.line()
    # the DUT's arrivals follow the generator's schedule, so what it forwards depends on the whole load being
    # offered: a trial whose generator fell short while its lcore was off the CPU is run again (the loss itself
    # is the point here: loss up to 100 % is this trial's goal)
    over = perf.judgeable_trial(lambda: t.trial(cap * 2, 0.1), what="twice a 1 Mpps calibrated DUT", goal_loss=1.0)
    forwarded = over.dut["dut_tx"]
    assert abs(forwarded - (cap * 0.1 + 64)) <= 0.002 * cap * 0.1 + 64, over.line()
    assert over.dut["dut_drops"] + forwarded == over.intended and over.received == forwarded
    assert over.dut["dut_queue_max"] == 64


def test_plain_forwarder_moves_everything(wire, worker, pool):
    a, b = wire.ports
    gen = perf.PerfTask.gen(a, count=10_000, rate_pps=1_000_000, seq_base=5)
    run = perf.PerfRun(worker, [gen, perf.PerfTask.dut(b, b), perf.PerfTask.recv(a, seq_base=5, count=10_000)],
                       pool=pool)
    try:
        run.wait_generated(2)
        _wait_received(run, 2, 10_000)
    finally:
        st = run.stop()
    assert st["tasks"][1]["dut_rx"] == st["tasks"][1]["dut_tx"] == 10_000 and st["tasks"][2]["unique"] == 10_000


def test_perf_run_refuses_bad_configurations(wire, worker, pool, eal):
    main = next(lc["lcore_id"] for lc in eal.lcores() if lc["is_main"])
    with pytest.raises(ProbeInvalidError, match="launch perf run on lcore"):
        perf.PerfRun(main, [perf.PerfTask.recv(wire.rx)])
    with pytest.raises(ProbeInvalidError):  # a cost needs a queue
        perf.PerfRun(worker, [perf.PerfTask.dut(wire.rx, wire.tx, cost_cycles=100)])
    with pytest.raises(ProbeInvalidError):  # a generator needs a pool
        perf.PerfRun(worker, [perf.PerfTask.gen(wire.tx)])
    with pytest.raises(ProbeInvalidError):  # scheduled arrivals need a GEN task to follow
        perf.PerfRun(worker, [perf.PerfTask.dut(wire.rx, wire.tx, cost_cycles=100, queue=8, scheduled_by=0)])
    with pytest.raises(ProbeNotFoundError):
        perf.PerfRun(worker, [perf.PerfTask(perf.ROLE_RECV, rx_port=999)])


def test_testpmd_is_driven_and_leaves_nothing_behind():
    if testpmd.testpmd_path() is None:
        pytest.skip("dpdk-testpmd not found (apt-get install dpdk)")
    tp = testpmd.Testpmd(lcores="0@0,1@0", vdevs=["net_null0"], app_args=["--total-num-mbufs=8192"])
    try:
        assert os.path.isdir(tp.runtime_dir)
        tp.cmd("start")
        time.sleep(0.2)
        st = tp.port_stats()
        tp.cmd("stop")
    finally:
        problems = tp.close()
    assert st[0].rx > 0 and not problems
    assert tp.proc.returncode is not None and not os.path.exists(tp.runtime_dir)


RX_LCORE_SCRIPT = """
import json, sys
from harness import perf, probe
from harness.profile import load_profile
from harness.session import HarnessSession
sess = HarnessSession(load_profile(sys.argv[1]).with_overrides(lcores="0@0,1@1,2@1"))
sess.start()
try:
    gen_lcore, rx_lcore = sess.worker_lcores()[:2]
    a, b = probe.ring_wire_create("dhrxl", 1)
    for p in (a, b):
        p.configure(probe.PortConf(), sess.pool)
        p.start()
    # generator and receivers share CPU 1: the receivers may wait a CPU slice or more for the last frames,
    # which the ring keeps; the drain gives up only after 1 s without one (it ends as soon as all arrived)
    t = perf.Tester(gen_lcore, sess.pool, a, b, flows=16, frames=64, rx_lcore=rx_lcore, drain_s=1.0,
                    pending=lambda: probe.ring_wire_pending("dhrxl"))
    r = t.trial(100_000, 0.1)
    print(json.dumps({"placement": t.placement(), "intended": r.intended, "sent": r.sent, "received": r.received,
                      "latencies": sum(r.hist), "lat_count": r.latency.count if r.latency else 0}))
    for p in (a, b):
        p.stop()
    probe.ring_wire_destroy("dhrxl")
finally:
    sess.close()
"""


def test_receiver_runs_on_its_own_lcore_when_the_profile_gives_one(tmp_path):
    """A second worker lcore takes the receivers (in a child process: its EAL has lcores 0@0,1@1,2@1):
    every frame sent arrives and is judged there, and the tester says which lcore did what."""
    import json
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run([sys.executable, "-c", RX_LCORE_SCRIPT, os.path.join(root, "profiles", "vdev.toml")],
                         cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["placement"] == "gen on lcore 1, recv on lcore 2"
    assert out["sent"] > 0 and out["received"] == out["sent"], out
    # latency on the receivers' lcore too: the stamped frames, 1 in perf.LAT_SAMPLE of those intended, less any
    # that tx refused (both lcores share CPU 1 here)
    stamped = -(-out["intended"] // perf.LAT_SAMPLE)
    assert out["latencies"] == out["lat_count"], out
    assert stamped - (out["intended"] - out["sent"]) <= out["lat_count"] <= stamped, out
