"""Throughput orchestration: the Tester (one trial at a time on a worker lcore), the search over it, and
the DUT paths (a wire, internal loopback, dpdk-testpmd over memif).

The C side generates (TSC-paced), forwards (a calibrated DUT of known capacity) and receives
(loss, reordering, duplicates, a latency histogram) on worker lcores; nothing per packet comes
here. A *trial* offers ``rate`` packets per second for ``duration`` seconds and reports intended,
offered and received load; frames that were not sent (tx refused them, or the generator could not
keep to its schedule) count as loss.
"""
from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable

from harness import probe
from harness.errors import HarnessError, UsageError
from harness.perf.model import (
    HIST_BUCKETS,
    LAT_SAMPLE,
    CalibratedDut,
    SearchProfile,
    Throughput,
    TrialResult,
    check_lat_sample,
    flow_queue,
    frame_pattern,
    frames_label,
    latency_from,
    search,
)
from harness.perf.native import PerfRun, PerfTask, measured_tsc_hz
from harness.probe import Mempool, Port
from harness.system.testpmd import Testpmd


class Tester:
    """Generate on ``tx``, receive on ``rx`` (one RECV per rx queue) on one worker lcore, optionally
    through a calibrated DUT between ``dut_rx`` and ``dut_tx``; one trial at a time.

    ``rx_lcore`` (another worker lcore) puts the receivers in a loop of their own there: generator and
    receiver then each have a CPU, and the tester's ceiling rises with the cores the profile gives.
    :meth:`placement` says which lcore does what.

    ``pending`` (optional) says how many frames are still in the wire; a trial waits for them,
    up to ``drain_s``, before it stops the receiver.

    The generator has ``grace_s`` beyond the trial to hand over its last frames (a pause of the
    shared CPU near the end must not turn into loss); a trial whose offered rate falls short of
    the intended one by more than max(0.1 %, 0.5 ms / duration) does not pass even without loss.

    ``lat_sample``: the generator stamps 1 frame in this many (a power of two) and the latency is that
    sample's; loss, duplicates and reordering are counted for every frame.

    ``dut_rx_queue``: the rx queue of the DUT's rx port it polls (one): on a port with several rx
    queues, the one the generator's flow arrives on (:func:`flow_rx_queue`).
    """

    def __init__(self, lcore: int, pool: Mempool, tx: Port, rx: Port, *, rx_queues: int = 1,
                 burst: int | None = None, flows: int = 1, frames=64, drain_s: float = 0.05,
                 pending: Callable[[], int] | None = None,
                 dut: CalibratedDut | None = None, dut_ports: tuple[Port, Port] | None = None,
                 grace_s: float = 0.002, rx_lcore: int | None = None,
                 external_stall: Callable[[], float] | None = None, lat_sample: int = LAT_SAMPLE,
                 dut_rx_queue: int = 0):
        self.lcore, self.pool, self.tx, self.rx = lcore, pool, tx, rx
        self.rx_lcore = rx_lcore if rx_lcore != lcore else None
        self.rx_queues, self.burst, self.flows = rx_queues, probe.burst_or_session(burst), flows
        self.sizes, self.frames = frame_pattern(frames), frames_label(frames)
        self.drain_s, self.pending, self.grace_s = drain_s, pending, grace_s
        self.dut, self.dut_ports, self.dut_rx_queue = dut, dut_ports, dut_rx_queue
        self.lat_sample = check_lat_sample(lat_sample)
        self.external_stall = external_stall  # seconds an external DUT has waited for a CPU, so far
        if dut is not None and dut_ports is None:
            raise UsageError("a calibrated DUT needs dut_ports=(rx port, tx port)")
        self._seq = secrets.randbits(40) << 20  # trials never share sequence numbers
        self._hz: int | None = None

    # the DUT runs in the generator's loop (arrivals on the generator's schedule), or in its own
    # run on its own lcore (arrivals when they come)
    def _dut_task(self, hz: int) -> PerfTask:
        rx, tx = self.dut_ports
        shared = self.dut.lcore is None
        return PerfTask.dut(rx, tx, rxq=self.dut_rx_queue, cost_cycles=self.dut.cost_cycles(hz),
                            queue=self.dut.queue,
                            spin=self.dut.spin and not shared, scheduled_by=0 if shared else None)

    def placement(self) -> str:
        """Which lcore does what, e.g. ``gen+recv on lcore 1`` or ``gen on lcore 1, recv on lcore 2``."""
        lanes: dict[int, list[str]] = {self.lcore: ["gen"]}
        if self.dut is not None:
            lanes.setdefault(self.dut.lcore if self.dut.lcore is not None else self.lcore, []).append("dut")
        lanes.setdefault(self.rx_lcore if self.rx_lcore is not None else self.lcore, []).append("recv")
        return ", ".join(f"{'+'.join(roles)} on lcore {lc}" for lc, roles in lanes.items())

    def tsc_hz(self) -> int:
        if self._hz is None:
            self._hz = measured_tsc_hz()
        return self._hz

    def trial(self, rate_pps: float, duration_s: float) -> TrialResult:
        """Offer ``rate_pps`` (0: as fast as the loop goes) for ``duration_s``; wait for what is in
        flight (up to drain_s); count. Unpaced trials have no intended count: intended = attempted."""
        hz = self.tsc_hz()
        count = max(1, round(rate_pps * duration_s)) if rate_pps > 0 else 0
        base = self._seq
        self._seq += (count or 1 << 36) + (1 << 20)
        gen = PerfTask.gen(self.tx, seq_base=base, count=count, rate_pps=rate_pps,
                           duration_s=duration_s + (self.grace_s if count else 0), flows=self.flows,
                           frames=self.sizes, lat_sample=self.lat_sample)
        recvs = [PerfTask.recv(self.rx, queue=q, seq_base=base, count=count) for q in range(self.rx_queues)]
        tasks = [gen]
        dut_run = recv_run = None
        if self.dut is not None and self.dut.lcore is None:
            tasks.append(self._dut_task(hz))
        first_recv = len(tasks)
        if self.rx_lcore is None:
            tasks += recvs
        stall0 = self.external_stall() if self.external_stall else 0.0
        try:
            # the loops downstream start first: the receiver (own lcore), then the DUT, then the generator
            if self.rx_lcore is not None:
                recv_run = PerfRun(self.rx_lcore, recvs, burst=self.burst, tsc_hz=hz)
            if self.dut is not None and self.dut.lcore is not None:
                dut_run = PerfRun(self.dut.lcore, [self._dut_task(hz)], burst=self.burst, tsc_hz=hz)
            run = PerfRun(self.lcore, tasks, burst=self.burst, pool=self.pool, tsc_hz=hz)
        except BaseException:
            for other in (dut_run, recv_run):
                if other is not None:
                    other.stop()
            raise
        rx_run, rx_first = (recv_run, 0) if recv_run is not None else (run, first_recv)
        try:
            run.wait_generated(duration_s + self.grace_s + 5.0)
            self._drain(run, first_recv, rx_run, rx_first)
        finally:
            st = run.stop()
            dst = dut_run.stop() if dut_run is not None else None
            rst = recv_run.stop() if recv_run is not None else st
        r = self._result(rate_pps, duration_s, count, st, rx_run, rst, rx_first, dst)
        if self.external_stall:
            r.ext_stall_s = max(0.0, self.external_stall() - stall0)
        return r

    def _drain(self, run: PerfRun, first_recv: int, rx_run: PerfRun, rx_first: int) -> None:
        """Until every frame taken by tx arrived, or nothing arrives for drain_s."""
        deadline = time.monotonic() + self.drain_s
        last = -1
        while True:
            st = run.stats()
            rst = rx_run.stats() if rx_run is not run else st
            gen = st["tasks"][0]
            got = sum(t["unique"] for t in rst["tasks"][rx_first:])
            lost_on_the_way = sum(t["dut_drops"] + t["dut_unsent"] for t in st["tasks"][1:first_recv])
            if got + lost_on_the_way >= gen["sent"] and (self.pending is None or self.pending() == 0):
                return
            now = time.monotonic()
            if got != last:
                last, deadline = got, now + self.drain_s
            elif now >= deadline:
                return
            time.sleep(0.001)

    def _result(self, rate, duration, count, st, rx_run, rst, first_recv, dut_st) -> TrialResult:
        g = st["tasks"][0]
        recvs = rst["tasks"][first_recv:]
        hist = [0] * HIST_BUCKETS
        for i in range(first_recv, len(rst["tasks"])):
            for k, n in enumerate(rx_run.hist(i)):
                hist[k] += n
        def total(key):
            return sum(t[key] for t in recvs)
        gen_ns = g["gen_ns_end"] - g["gen_ns_start"] if g["gen_done"] else 0
        r = TrialResult(rate=float(rate), duration=duration, frames=self.frames, burst=self.burst,
                        intended=count or g["attempted"], attempted=g["attempted"], sent=g["sent"],
                        unsent=g["unsent"], received=total("unique"), dups=total("dups"),
                        reordered=total("reordered"), late=total("late"), stale=total("stale"),
                        foreign=total("foreign"), gen_seconds=gen_ns / 1e9 if gen_ns > 0 else duration,
                        behind_max=g["behind_max"], tsc_hz=st["tsc_hz"], hist=hist, gaps=st["gaps"],
                        gap_max_s=st["gap_max_s"], gap_s=st["gap_s"], rate_slack=max(0.001, 0.0005 / duration),
                        rx_per_queue=tuple(t["unique"] for t in recvs))
        lat_count = total("lat_count")
        if lat_count:
            r.latency = latency_from(hist, st["tsc_hz"], count=lat_count,
                                     lat_min=min(t["lat_min"] for t in recvs if t["lat_count"]),
                                     lat_max=max(t["lat_max"] for t in recvs), lat_sum=total("lat_sum"),
                                     sample=self.lat_sample)
        if self.dut is not None:
            d = (dut_st or st)["tasks"][0 if dut_st else 1]
            r.dut = {k: d[k] for k in ("dut_rx", "dut_tx", "dut_drops", "dut_unsent", "dut_queue_max")}
            r.dut["capacity_pps"] = self.dut.exact_capacity(st["tsc_hz"])
        return r

    def ceiling(self, duration_s: float) -> TrialResult:
        """An unpaced trial: the most this tester offers (and receives) per second."""
        return self.trial(0, duration_s)


#: the frames (and their paced rate) :func:`flow_rx_queue` sends to find a flow's rx queue
FLOW_PROBE_FRAMES, FLOW_PROBE_PPS = 64, 10_000


def flow_rx_queue(lcore: int, pool: Mempool, tx: Port, rx: Port, *, rx_queues: int, burst: int | None = None,
                  frames=64, drain_s: float = 0.05, pending: Callable[[], int] | None = None) -> int:
    """The rx queue of ``rx`` that the tester's single flow (``flows=1``) arrives on from ``tx``.

    A port with several rx queues spreads flows by RSS: one flow lands on one queue, the one its hash
    picks in the RETA, not necessarily queue 0. A DUT task polls one queue, so it must poll that one.
    Found by sending FLOW_PROBE_FRAMES frames of the flow with a receiver on each of the ``rx_queues``
    queues (the port's configured count); 0 without sending when the port has one queue. Raises
    HarnessError when none arrive, or when they arrive on several queues."""
    if rx_queues <= 1:
        return 0
    probe_run = Tester(lcore, pool, tx, rx, rx_queues=rx_queues, burst=burst, flows=1, frames=frames,
                       drain_s=drain_s, pending=pending)
    r = probe_run.trial(FLOW_PROBE_PPS, FLOW_PROBE_FRAMES / FLOW_PROBE_PPS)
    queue, why = flow_queue(r.rx_per_queue)
    if queue is None:
        raise HarnessError(f"{rx.name} ({rx.driver}) with {rx_queues} rx queues, one flow sent from {tx.name}: {why} "
                           f"({r.line()}); a DUT that polls one rx queue cannot be placed: check the link and "
                           "the RSS configuration (rss.*, queues.rx)")
    return queue


def throughput(tester: Tester, profile: SearchProfile, *, line_rate: float | None = None, pdr_loss: float = 0.0,
               warmup_s: float = 0.0, ceiling: TrialResult | None = None,
               progress: Callable[[TrialResult, str], None] | None = None) -> Throughput:
    """NDR (RFC 2544, zero loss) and, when ``pdr_loss`` > 0, the PDR at that loss ratio.

    The upper bound is the lower of the line rate (if known) and what this tester offers unpaced
    (its ceiling, measured first over ``warmup_s`` or the trial length, unless given).
    """
    ceil = ceiling or tester.ceiling(max(warmup_s, min(profile.trial_s, 0.2)))
    if progress is not None and ceiling is None:
        progress(ceil, "tester ceiling (unpaced)")
    top = ceil.offered_pps
    max_rate = min(top, line_rate) if line_rate else top
    if max_rate <= 0:
        raise HarnessError(f"the generator offered nothing in {ceil.duration:g}s (attempted {ceil.attempted}, "
                           f"unsent {ceil.unsent}); check the ports are started and the pool has free mbufs")

    def trial(rate: float) -> TrialResult:
        return tester.trial(rate, profile.trial_s)

    kw = dict(width=profile.width, min_rate=max_rate * profile.min_rate_frac, max_trials=profile.max_trials,
              progress=progress)
    ndr = search(trial, max_rate, goal_loss=0.0, **kw)
    pdr = search(trial, max_rate, goal_loss=pdr_loss, known=ndr.trials, **kw) if pdr_loss > 0 else None
    return Throughput(frames=tester.frames, ceiling=ceil, max_rate=max_rate, ndr=ndr, pdr=pdr,
                      placement=tester.placement())


# ---------------------------------------------------------------- what frames go through

@dataclass
class DutPath:
    """Where the tester sends (``tx``) and receives (``rx``, ``rx_queues`` queues) for one DUT mode."""
    mode: str                       # wire | internal-loopback | testpmd-memif
    tx: Port
    rx: Port
    description: str
    rx_queues: int = 1
    pending: Callable[[], int] | None = None
    link_gbps: float | None = None  # the link's speed, when there is a line rate to respect
    testpmd: "Testpmd | None" = None
    closers: list = field(default_factory=list)

    def tester(self, lcore: int, pool: Mempool, *, burst: int | None = None, flows: int, frames,
               drain_s: float, rx_lcore: int | None = None, lat_sample: int = LAT_SAMPLE) -> Tester:
        return Tester(lcore, pool, self.tx, self.rx, rx_queues=self.rx_queues, burst=burst, flows=flows,
                      frames=frames, drain_s=drain_s, pending=self.pending, rx_lcore=rx_lcore,
                      external_stall=self.testpmd.run_delay_s if self.testpmd is not None else None,
                      lat_sample=lat_sample)

    def close(self) -> list[str]:
        problems = []
        for fn in reversed(self.closers):
            try:
                problems += fn() or []
            except HarnessError as exc:
                problems.append(str(exc))
        self.closers.clear()
        return problems


def memif_testpmd(pool: Mempool, journal, *, testpmd_cpu: int, burst: int | None = None, rx_desc: int = 1024,
                  tx_desc: int = 1024, link_timeout_s: float = 10.0) -> DutPath:
    """An external DPDK application as the DUT: a ``net_memif`` server port in this process (through
    rte_vdev_init) and ``dpdk-testpmd`` in io mode as its memif client, forwarding what it receives
    back on the same interface. testpmd runs in its own process with its own --file-prefix, --no-pci,
    both of its lcores on ``testpmd_cpu``; the socket lives in a directory the journal removes."""
    sock_dir = os.path.join("/run/dpdk-harness", f"memif-{os.getpid()}-{secrets.token_hex(3)}")
    journal.record("dir", path=sock_dir)
    os.makedirs(sock_dir, exist_ok=True)
    sock = os.path.join(sock_dir, "memif.sock")
    name = f"net_memif_dh{os.getpid() % 100000}{secrets.token_hex(2)}"
    common = f"id=0,socket={sock},socket-abstract=no,rsize=11"
    path = DutPath("testpmd-memif", None, None, "")  # filled below; closers run on failure too

    def remove_dir():
        shutil.rmtree(sock_dir, ignore_errors=True)
        return [] if not os.path.exists(sock_dir) else [f"cannot remove {sock_dir}"]

    path.closers.append(remove_dir)
    try:
        port = probe.vdev_create(name, f"role=server,{common}")

        def destroy_port():
            port.stop()
            probe.vdev_destroy(name)

        path.closers.append(destroy_port)
        port.configure(probe.PortConf(rx_desc=rx_desc, tx_desc=tx_desc, promisc=False), pool)
        port.start()
        tp = Testpmd(lcores=f"0@{testpmd_cpu},1@{testpmd_cpu}", journal=journal,
                     vdevs=[f"net_memif0,role=client,{common}"],
                     app_args=["--forward-mode=io", "--port-topology=loop", "--nb-cores=1",
                               f"--burst={probe.burst_or_session(burst)}", "--rxq=1", "--txq=1", f"--rxd={rx_desc}",
                               f"--txd={tx_desc}", "--no-lsc-interrupt",
                               "--total-num-mbufs=16384"])
        path.closers.append(tp.close)
        tp.cmd("start")
        if not port.link(wait_ms=int(link_timeout_s * 1000))["up"]:
            raise HarnessError(f"memif: dpdk-testpmd did not connect to {sock} in {link_timeout_s:g}s; "
                               f"its output: {' | '.join(tp.output().strip().splitlines()[-4:])}")
    except BaseException:
        path.close()
        raise
    path.tx = path.rx = port
    path.testpmd = tp
    path.description = (f"dpdk-testpmd (io forwarding, lcores on CPU {testpmd_cpu}) over memif "
                        f"({name} here, server; testpmd client)")
    return path
