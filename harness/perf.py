"""Throughput and latency: the Python face of harness/native/perf.c, the NDR/PDR search, the
line-rate calculator and the latency percentiles.

The C side generates (TSC-paced), forwards (a calibrated DUT of known capacity) and receives
(loss, reordering, duplicates, a latency histogram) on worker lcores; nothing per packet comes
here. A *trial* offers ``rate`` packets per second for ``duration`` seconds and reports intended,
offered and received load; frames that were not sent (tx refused them, or the generator could not
keep to its schedule) count as loss. :func:`search` finds the highest rate whose trial loses no
more than a goal loss ratio (0: NDR, RFC 2544; > 0: PDR) to a relative width, and is pure Python:
it takes the trial as a function, so the unit tests drive it with a model DUT.

Why not MLRsearch (FD.io CSIT's search, on PyPI): its goal/measurer machinery is built for
hour-long hardware runs with several loss-ratio goals; a CI search here is a handful of 0.1 s
trials, and a plain bracketed bisection, started from the forwarding rate a failed trial shows,
is a few dozen lines that the unit tests can prove. Nothing is added to the dependencies.
"""
from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from harness.errors import HarnessError, UsageError, check
from harness.probe import Mempool, Port, ffi, lib, register_loop, require_lib, unregister_loop

# ---------------------------------------------------------------- frames and line rate

#: preamble (7) + start-of-frame delimiter (1) + inter-frame gap (12): bytes a frame costs beyond itself
WIRE_OVERHEAD = 20
#: IMIX as FD.io CSIT sends it (IMIX_v4_1): 7 x 64, 4 x 570, 1 x 1518 bytes, in this order
IMIX = (64,) * 7 + (570,) * 4 + (1518,)
#: frame-size patterns by name; an integer size is a pattern of one
PATTERNS = {"imix": IMIX, "jumbo": (9000,)}
LINK_GBPS_RANGE = (1.0, 400.0)
MAX_FRAME = 16000   # perf.c FR_MAX
MIN_FRAME = 64


def frame_pattern(frames: int | str | Sequence[int]) -> tuple[int, ...]:
    """Frame sizes (FCS included) the generator cycles: ``64``, ``"imix"``, ``"jumbo"``, ``[64, 1518]``."""
    if isinstance(frames, str):
        key = frames.strip().lower()
        if key.isdigit():
            return frame_pattern(int(key))
        if key not in PATTERNS:
            raise UsageError(f"frame size {frames!r}: not a size or a pattern; use 64..{MAX_FRAME}, "
                             f"or one of {', '.join(PATTERNS)}")
        return PATTERNS[key]
    sizes = (frames,) if isinstance(frames, int) else tuple(frames)
    if not sizes or len(sizes) > 64:
        raise UsageError(f"frame pattern of {len(sizes)} sizes: give 1..64 sizes")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or not MIN_FRAME <= s <= MAX_FRAME:
            raise UsageError(f"frame size {s!r}: out of range {MIN_FRAME}..{MAX_FRAME} bytes (FCS included)")
    return sizes


def mean_frame_size(frames) -> float:
    sizes = frame_pattern(frames)
    return sum(sizes) / len(sizes)


def frames_label(frames) -> str:
    """``64B``, ``imix``, ``9000B``: how a frame size or pattern is named in figures."""
    if isinstance(frames, str) and not frames.strip().isdigit():
        return frames.strip().lower()
    sizes = frame_pattern(frames)
    for name, pat in PATTERNS.items():
        if sizes == pat and name != "jumbo":
            return name
    return f"{sizes[0]}B" if len(sizes) == 1 else "+".join(str(s) for s in sizes) + "B"


def line_rate_pps(link_gbps: float, frames) -> float:
    """Frames per second a link of ``link_gbps`` carries at full load: each frame costs its size
    plus 20 bytes (preamble, SFD, inter-frame gap); ``frames`` is a size or a pattern (mean size).

    >>> round(line_rate_pps(10, 64))
    14880952
    """
    lo, hi = LINK_GBPS_RANGE
    if isinstance(link_gbps, bool) or not isinstance(link_gbps, (int, float)) or not lo <= link_gbps <= hi:
        raise UsageError(f"link speed {link_gbps!r} Gbit/s: out of range {lo:g}..{hi:g}")
    return link_gbps * 1e9 / ((mean_frame_size(frames) + WIRE_OVERHEAD) * 8)


def bits_per_second(pps: float, frames, *, on_wire: bool = True) -> float:
    """Bit rate of ``pps`` frames per second (with preamble and gap when ``on_wire``)."""
    return pps * (mean_frame_size(frames) + (WIRE_OVERHEAD if on_wire else 0)) * 8


# ---------------------------------------------------------------- latency histogram

HIST_BUCKETS = 1920     # perf.c PROBE_PERF_HIST_BUCKETS
HIST_EXACT = 64
HIST_SUB_BITS = 5
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def hist_index(value: int) -> int:
    """The bucket of ``value`` (TSC cycles), as perf.c files it: exact below 64, then 32
    sub-buckets per power of two (HdrHistogram's layout with 5 bits of precision)."""
    if value < HIST_EXACT:
        return int(value)
    e = value.bit_length() - 1
    sub = (value >> (e - HIST_SUB_BITS)) & ((1 << HIST_SUB_BITS) - 1)
    return min(HIST_EXACT + (e - 6) * (1 << HIST_SUB_BITS) + sub, HIST_BUCKETS - 1)


def bucket_range(index: int) -> tuple[int, int]:
    """[low, high) of the values bucket ``index`` holds."""
    if index < HIST_EXACT:
        return index, index + 1
    e, sub = 6 + (index - HIST_EXACT) // 32, (index - HIST_EXACT) % 32
    shift = e - HIST_SUB_BITS
    low = (32 + sub) << shift
    return low, low + (1 << shift)


def percentile(buckets: Sequence[int], pct: float, *, lo: int | None = None, hi: int | None = None) -> int | None:
    """The value at percentile ``pct`` (nearest rank), as the highest value of its bucket, clamped
    to the exact [lo, hi] the receiver saw; None for an empty histogram."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = max(1, math.ceil(pct / 100.0 * total))
    seen = 0
    for i, n in enumerate(buckets):
        seen += n
        if seen >= rank:
            value = bucket_range(i)[1] - 1
            if hi is not None:
                value = min(value, hi)
            if lo is not None:
                value = max(value, lo)
            return value
    return hi


@dataclass(frozen=True)
class Latency:
    """Latency of one trial in microseconds: min, mean, p50, p90, p99, p99.9, max, and frames timed."""
    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def get(self, name: str) -> float:
        """By the profile's key: p50, p90, p99, p999 or max."""
        return getattr(self, name)

    def line(self) -> str:
        return (f"min {self.min:.2f} / p50 {self.p50:.2f} / p90 {self.p90:.2f} / p99 {self.p99:.2f} / "
                f"p99.9 {self.p999:.2f} / max {self.max:.2f} us ({self.count} frames)")


def latency_from(buckets: Sequence[int], tsc_hz: int, *, count: int, lat_min: int, lat_max: int,
                 lat_sum: int) -> Latency | None:
    if count == 0 or not tsc_hz:
        return None
    us = 1e6 / tsc_hz
    pct = {k: percentile(buckets, v, lo=lat_min, hi=lat_max) * us for k, v in PERCENTILES.items()}
    return Latency(count=count, min=lat_min * us, mean=lat_sum / count * us, max=lat_max * us, **pct)


# ---------------------------------------------------------------- runs on worker lcores

ROLE_GEN, ROLE_RECV, ROLE_DUT = 0, 1, 2
DUT_SPIN, DUT_SCHEDULED = 1, 2
GAP_NS = 20_000     # a loop turn longer than this is a gap: the lcore was not running


@dataclass(frozen=True)
class PerfTask:
    role: int
    rx_port: int = 0
    rx_queue: int = 0
    tx_port: int = 0
    tx_queue: int = 0
    seq_base: int = 0
    count: int = 0
    rate_pps: int = 0
    duration_ns: int = 0
    flows: int = 1
    sizes: tuple[int, ...] = (64,)
    cost_cycles: int = 0
    dut_queue: int = 0
    flags: int = 0
    gen_task: int = 0

    @classmethod
    def gen(cls, tx: Port, *, queue: int = 0, seq_base: int = 0, count: int = 0, rate_pps: float = 0,
            duration_s: float = 0, flows: int = 1, frames=64) -> "PerfTask":
        return cls(ROLE_GEN, tx_port=tx.id, tx_queue=queue, seq_base=seq_base, count=int(count),
                   rate_pps=int(round(rate_pps)), duration_ns=int(duration_s * 1e9), flows=flows,
                   sizes=frame_pattern(frames))

    @classmethod
    def recv(cls, rx: Port, *, queue: int = 0, seq_base: int = 0, count: int = 0) -> "PerfTask":
        return cls(ROLE_RECV, rx_port=rx.id, rx_queue=queue, seq_base=seq_base, count=int(count))

    @classmethod
    def dut(cls, rx: Port, tx: Port, *, rxq: int = 0, txq: int = 0, cost_cycles: int = 0, queue: int = 0,
            spin: bool = False, scheduled_by: int | None = None) -> "PerfTask":
        """``scheduled_by``: index of the GEN task (same run) whose schedule gives arrival times."""
        flags = (DUT_SPIN if spin else 0) | (DUT_SCHEDULED if scheduled_by is not None else 0)
        return cls(ROLE_DUT, rx_port=rx.id, rx_queue=rxq, tx_port=tx.id, tx_queue=txq,
                   cost_cycles=int(cost_cycles), dut_queue=int(queue), flags=flags, gen_task=scheduled_by or 0)


class PerfRun:
    """GEN / RECV / DUT tasks looping on one worker lcore until stopped (perf.c)."""

    def __init__(self, lcore: int, tasks: Sequence[PerfTask], *, burst: int = 32, pool: Mempool | None = None,
                 tsc_hz: int = 0, gap_ns: int = GAP_NS):
        if not 1 <= len(tasks) <= 8:
            raise UsageError(f"a perf run takes 1..8 tasks, got {len(tasks)}")
        c = ffi.new("struct probe_perf_conf *")
        c.lcore, c.burst, c.tsc_hz, c.gap_ns = lcore, burst, tsc_hz, gap_ns
        c.pool = pool.handle if pool is not None else ffi.NULL
        c.n_tasks = len(tasks)
        for i, t in enumerate(tasks):
            ct = c.tasks[i]
            for name in ("role", "rx_port", "rx_queue", "tx_port", "tx_queue", "seq_base", "count", "rate_pps",
                         "duration_ns", "cost_cycles", "dut_queue", "flags", "gen_task"):
                setattr(ct, name, getattr(t, name))
            ct.n_flows = t.flows
            ct.n_sizes = len(t.sizes)
            ct.sizes[0:len(t.sizes)] = list(t.sizes)
        self.conf, self.lcore, self.tasks, self._pool = c, lcore, list(tasks), pool
        out = ffi.new("probe_perf **")
        check(require_lib().probe_perf_start(c, out), f"launch perf run on lcore {lcore}")
        self._h = out[0]
        self._final: dict | None = None
        self._hists: dict[int, list[int]] = {}
        register_loop(self)

    def stats(self) -> dict:
        """Counters: tsc_hz, elapsed_s, loops, running, gen_done and ``tasks`` (one dict per task)."""
        if self._final is not None:
            return self._final
        st = ffi.new("struct probe_perf_stats *")
        check(lib.probe_perf_stats(self._h, st), "perf run stats")
        tasks = []
        for i in range(st.n_tasks):
            t = st.task[i]
            tasks.append({name: getattr(t, name) for name, _ in ffi.typeof("struct probe_perf_task_stats").fields})
        hz = st.tsc_hz or 1
        return {"tsc_hz": st.tsc_hz, "elapsed_s": (st.tsc_last - st.tsc_start) / hz, "loops": st.loops,
                "gaps": st.gaps, "gap_s": st.gap_cycles / hz, "gap_max_s": st.gap_max / hz,
                "running": bool(st.running), "gen_done": bool(st.gen_done), "tasks": tasks}

    def hist(self, task: int) -> list[int]:
        if task in self._hists:
            return self._hists[task]
        buf = ffi.new("uint64_t[]", HIST_BUCKETS)
        n = check(lib.probe_perf_hist(self._h, task, buf, HIST_BUCKETS), f"perf histogram of task {task}")
        return list(buf[0:n])

    def wait_generated(self, timeout_s: float) -> bool:
        return bool(check(lib.probe_perf_wait(self._h, int(timeout_s * 1000)), "perf run wait"))

    def stop(self) -> dict:
        """Stop the loop (idempotent) and return its final counters."""
        if self._final is None:
            check(lib.probe_perf_stop(self._h), f"stop perf run on lcore {self.lcore}")
            final = self.stats()
            self._hists = {i: self.hist(i) for i, t in enumerate(self.tasks) if t.role == ROLE_RECV}
            self._final = final
            check(lib.probe_perf_free(self._h), "perf run free")
            self._h = ffi.NULL
            unregister_loop(self)
        return self._final

    def __enter__(self) -> "PerfRun":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


_MEASURED_HZ: int | None = None


def measured_tsc_hz(ms: int = 100) -> int:
    """TSC ticks per second against CLOCK_MONOTONIC_RAW, measured once per process. EAL's own figure
    (rte_get_tsc_hz) can be a nominal frequency a few 0.1 % off, and every paced rate would be too."""
    global _MEASURED_HZ
    if _MEASURED_HZ is None:
        out = ffi.new("uint64_t *")
        check(require_lib().probe_perf_tsc_hz(ms, out), "measure the TSC frequency")
        _MEASURED_HZ = int(out[0])
    return _MEASURED_HZ


def build_frame(frame_size: int, *, flow: int = 0, seq: int = 0, tsc: int = 0) -> bytes:
    """One generator frame, as perf.c writes it (without the FCS)."""
    buf = ffi.new("uint8_t[]", MAX_FRAME)
    n = check(require_lib().probe_perf_frame(buf, MAX_FRAME, frame_size, flow, seq, tsc), "perf frame")
    return bytes(ffi.buffer(buf, n))


# ---------------------------------------------------------------- trials

@dataclass
class TrialResult:
    """One trial: ``intended`` frames at ``rate`` pps for ``duration`` s; what was offered and received.

    Loss is ``intended - received``: frames tx refused (``unsent``) and frames the generator could
    not hand over in time (``ungenerated``) are lost like frames the DUT dropped.
    """
    rate: float                 # intended load, pps
    duration: float             # intended duration, s
    frames: str                 # frame size or pattern label
    burst: int
    intended: int
    attempted: int = 0          # frames the generator handed to tx_burst
    sent: int = 0               # ... and tx_burst took
    unsent: int = 0
    received: int = 0           # distinct frames of this trial received
    dups: int = 0
    reordered: int = 0
    late: int = 0
    stale: int = 0              # frames of earlier trials that arrived during this one
    foreign: int = 0            # frames that are not the harness's
    gen_seconds: float = 0.0    # schedule start to last frame handed over (CLOCK_MONOTONIC_RAW)
    behind_max: int = 0         # most frames the generator fell behind its schedule
    gaps: int = 0               # loop turns longer than GAP_NS: the lcore was not running
    gap_max_s: float = 0.0
    rate_slack: float = 0.0     # a passing trial offers at least rate x (1 - rate_slack)
    dut: dict = field(default_factory=dict)     # calibrated DUT counters, when there is one
    latency: Latency | None = None
    hist: list[int] = field(default_factory=list, repr=False)
    tsc_hz: int = 0

    @property
    def ungenerated(self) -> int:
        return max(0, self.intended - self.attempted)

    @property
    def lost(self) -> int:
        return max(0, self.intended - self.received)

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.intended if self.intended else 0.0

    @property
    def offered_pps(self) -> float:
        """Frames handed to the port per second (attempted, whether tx took them or not)."""
        return self.attempted / self.gen_seconds if self.gen_seconds > 0 else 0.0

    @property
    def sent_pps(self) -> float:
        return self.sent / self.gen_seconds if self.gen_seconds > 0 else 0.0

    @property
    def received_pps(self) -> float:
        """Distinct frames received per second of generation: the forwarding rate."""
        return self.received / self.gen_seconds if self.gen_seconds > 0 else 0.0

    @property
    def rate_error(self) -> float:
        """Offered / intended - 1 (negative: the generator offered less than asked)."""
        return self.offered_pps / self.rate - 1.0 if self.rate > 0 else 0.0

    @property
    def offered_short(self) -> bool:
        """The generator handed everything over, but too slowly: the load was not the one intended."""
        return self.rate > 0 and self.offered_pps < self.rate * (1 - self.rate_slack)

    @property
    def tester_stalled(self) -> bool:
        """The trial's only shortfall is the tester's own: its lcore was not running for a while (gaps)
        and every frame it did hand over arrived. Says nothing about the DUT: such a trial is repeated."""
        return self.gaps > 0 and self.ungenerated > 0 and self.received >= self.attempted

    def passes(self, goal_loss: float = 0.0) -> bool:
        lossless = self.lost == 0 if goal_loss <= 0 else self.loss_ratio <= goal_loss
        return lossless and not self.offered_short

    def line(self) -> str:
        return (f"{self.frames} {self.rate / 1e6:.4f} Mpps x {self.duration:g}s: intended {self.intended}, "
                f"offered {self.offered_pps / 1e6:.4f} Mpps, received {self.received_pps / 1e6:.4f} Mpps, "
                f"lost {self.lost} ({self.loss_ratio:.2e}: unsent {self.unsent}, ungenerated {self.ungenerated}"
                + (f", dut drops {self.dut.get('dut_drops', 0)}" if self.dut else "") + ")"
                + (f", offered {self.rate_error:+.2%} short of intended" if self.offered_short else ""))


@dataclass(frozen=True)
class CalibratedDut:
    """A DUT of known capacity: a server with a fixed service time per packet (tsc_hz / capacity
    cycles) behind a queue of ``queue`` packets; what arrives at a full queue is dropped.

    On the generator's lcore (``lcore`` None; the only choice with one worker lcore) the service
    time is virtual: the shared loop never waits, so the generator and receiver keep their pace,
    and a frame arrives when the generator's schedule says it was due, so pauses of the shared CPU
    (the kernel, a VM exit) neither move the DUT's capacity nor turn the generator's catch-up into
    a burst it must queue: its drops depend on the offered rate alone. With its own lcore and
    ``spin``, it spends the cycles like a real forwarder with a fixed cost per packet (its rx/tx
    work included), and its queue is the rx ring in front of it.
    """
    capacity_pps: float
    queue: int = 256
    lcore: int | None = None
    spin: bool = False

    def cost_cycles(self, hz: int) -> int:
        return max(1, round(hz / self.capacity_pps))

    def exact_capacity(self, hz: int) -> float:
        """The capacity the integer cost per packet gives."""
        return hz / self.cost_cycles(hz)


class Tester:
    """Generate on ``tx``, receive on ``rx`` (one RECV per rx queue) on one worker lcore, optionally
    through a calibrated DUT between ``dut_rx`` and ``dut_tx``; one trial at a time.

    ``pending`` (optional) says how many frames are still in the wire; a trial waits for them,
    up to ``drain_s``, before it stops the receiver.

    The generator has ``grace_s`` beyond the trial to hand over its last frames (a pause of the
    shared CPU near the end must not turn into loss); a trial whose offered rate falls short of
    the intended one by more than max(0.1 %, 0.5 ms / duration) does not pass even without loss.
    """

    def __init__(self, lcore: int, pool: Mempool, tx: Port, rx: Port, *, rx_queues: int = 1, burst: int = 32,
                 flows: int = 1, frames=64, drain_s: float = 0.05, pending: Callable[[], int] | None = None,
                 dut: CalibratedDut | None = None, dut_ports: tuple[Port, Port] | None = None,
                 grace_s: float = 0.002):
        self.lcore, self.pool, self.tx, self.rx = lcore, pool, tx, rx
        self.rx_queues, self.burst, self.flows = rx_queues, burst, flows
        self.sizes, self.frames = frame_pattern(frames), frames_label(frames)
        self.drain_s, self.pending, self.grace_s = drain_s, pending, grace_s
        self.dut, self.dut_ports = dut, dut_ports
        if dut is not None and dut_ports is None:
            raise UsageError("a calibrated DUT needs dut_ports=(rx port, tx port)")
        self._seq = secrets.randbits(40) << 20  # trials never share sequence numbers
        self._hz: int | None = None

    # the DUT runs in the generator's loop (arrivals on the generator's schedule), or in its own
    # run on its own lcore (arrivals when they come)
    def _dut_task(self, hz: int) -> PerfTask:
        rx, tx = self.dut_ports
        shared = self.dut.lcore is None
        return PerfTask.dut(rx, tx, cost_cycles=self.dut.cost_cycles(hz), queue=self.dut.queue,
                            spin=self.dut.spin and not shared, scheduled_by=0 if shared else None)

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
                           frames=self.sizes)
        recvs = [PerfTask.recv(self.rx, queue=q, seq_base=base, count=count) for q in range(self.rx_queues)]
        tasks = [gen]
        dut_run = None
        if self.dut is not None and self.dut.lcore is None:
            tasks.append(self._dut_task(hz))
        tasks += recvs
        if self.dut is not None and self.dut.lcore is not None:
            dut_run = PerfRun(self.dut.lcore, [self._dut_task(hz)], burst=self.burst, tsc_hz=hz)
        try:
            run = PerfRun(self.lcore, tasks, burst=self.burst, pool=self.pool, tsc_hz=hz)
        except BaseException:
            if dut_run is not None:
                dut_run.stop()
            raise
        try:
            run.wait_generated(duration_s + self.grace_s + 5.0)
            self._drain(run, len(tasks) - len(recvs))
        finally:
            st = run.stop()
            dst = dut_run.stop() if dut_run is not None else None
        return self._result(rate_pps, duration_s, count, st, run, len(tasks) - len(recvs), dst)

    def _drain(self, run: PerfRun, first_recv: int) -> None:
        """Until every frame taken by tx arrived, or nothing arrives for drain_s."""
        deadline = time.monotonic() + self.drain_s
        last = -1
        while True:
            st = run.stats()
            gen = st["tasks"][0]
            got = sum(t["unique"] for t in st["tasks"][first_recv:])
            lost_on_the_way = sum(t["dut_drops"] + t["dut_unsent"] for t in st["tasks"][1:first_recv])
            if got + lost_on_the_way >= gen["sent"] and (self.pending is None or self.pending() == 0):
                return
            now = time.monotonic()
            if got != last:
                last, deadline = got, now + self.drain_s
            elif now >= deadline:
                return
            time.sleep(0.001)

    def _result(self, rate, duration, count, st, run, first_recv, dut_st) -> TrialResult:
        g = st["tasks"][0]
        recvs = st["tasks"][first_recv:]
        hist = [0] * HIST_BUCKETS
        for i in range(first_recv, len(st["tasks"])):
            for k, n in enumerate(run.hist(i)):
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
                        gap_max_s=st["gap_max_s"], rate_slack=max(0.001, 0.0005 / duration))
        lat_count = total("lat_count")
        if lat_count:
            r.latency = latency_from(hist, st["tsc_hz"], count=lat_count,
                                     lat_min=min(t["lat_min"] for t in recvs if t["lat_count"]),
                                     lat_max=max(t["lat_max"] for t in recvs), lat_sum=total("lat_sum"))
        if self.dut is not None:
            d = (dut_st or st)["tasks"][0 if dut_st else 1]
            r.dut = {k: d[k] for k in ("dut_rx", "dut_tx", "dut_drops", "dut_unsent", "dut_queue_max")}
            r.dut["capacity_pps"] = self.dut.exact_capacity(st["tsc_hz"])
        return r

    def ceiling(self, duration_s: float) -> TrialResult:
        """An unpaced trial: the most this tester offers (and receives) per second."""
        return self.trial(0, duration_s)


# ---------------------------------------------------------------- search

@dataclass(frozen=True)
class SearchProfile:
    """How a throughput search runs: trial length, final width, drain, trial budget."""
    name: str
    trial_s: float          # duration of each trial
    width: float            # the search stops when (lowest failing - highest passing) <= width x failing
    drain_s: float          # longest wait for frames in flight after a trial
    max_trials: int
    min_rate_frac: float    # the lowest rate tried, as a fraction of the upper bound

    def with_trial(self, trial_s: float | None) -> "SearchProfile":
        if trial_s is None:
            return self
        return SearchProfile(self.name, trial_s, self.width, self.drain_s, self.max_trials, self.min_rate_frac)


SEARCH_PROFILES = {
    # short trials for CI and quick looks: a 1 % final width
    "ci": SearchProfile("ci", trial_s=0.1, width=0.01, drain_s=0.05, max_trials=24, min_rate_frac=0.001),
    # RFC 2544 section 26.1: 60 s trials, and 2 s for frames in flight; a 0.5 % final width
    "rfc2544": SearchProfile("rfc2544", trial_s=60.0, width=0.005, drain_s=2.0, max_trials=40,
                             min_rate_frac=0.001),
}


@dataclass
class SearchResult:
    """The highest passing rate (``rate``; 0 if even the lowest rate tried failed), the lowest
    failing rate above it (``upper``; None if the upper bound passed), and every trial."""
    goal_loss: float
    rate: float
    upper: float | None
    max_rate: float
    trials: list[TrialResult]
    best: TrialResult | None            # the trial at ``rate``
    exhausted: bool = False             # max_trials ran out before the width was reached
    repeated: list[TrialResult] = field(default_factory=list)  # trials set aside: the tester stalled

    @property
    def bounded_by_max(self) -> bool:
        """The upper bound itself passed: the real rate may be higher."""
        return self.upper is None and self.rate > 0

    @property
    def width(self) -> float:
        return (self.upper - self.rate) / self.upper if self.upper else 0.0


TESTER_STALL_REPEATS = 3  # per search: trials repeated because the tester's own lcore stalled


def search(trial: Callable[[float], TrialResult], max_rate: float, *, goal_loss: float = 0.0,
           width: float = 0.01, min_rate: float | None = None, max_trials: int = 24,
           known: Iterable[TrialResult] = (), progress: Callable[[TrialResult, str], None] | None = None
           ) -> SearchResult:
    """Highest rate in [min_rate, max_rate] whose trial loses at most ``goal_loss`` (0: nothing).

    Bracket first: try ``max_rate``; while failing, step down to the lower of the rate the failed
    trial forwarded and a geometrically growing step below the failing rate. Then narrow: climb
    from the highest passing rate in steps of width x 1, 2, 4, ... while that stays below the
    midpoint, else bisect, until the passing and failing rates are within ``width`` of each other.
    ``known`` trials (e.g. the NDR search's, when looking for a PDR) seed the bounds.
    """
    if max_rate <= 0:
        raise UsageError(f"search: max_rate {max_rate} must be > 0")
    min_rate = max_rate * 0.001 if min_rate is None else min_rate
    results: list[TrialResult] = list(known)
    ok = [r for r in results if r.passes(goal_loss)]
    lo_r = max(ok, key=lambda r: r.rate, default=None)
    bad = [r for r in results if not r.passes(goal_loss) and (lo_r is None or r.rate > lo_r.rate)]
    hi_r = min(bad, key=lambda r: r.rate, default=None)
    ran = 0

    def state() -> str:
        lo = f"{lo_r.rate / 1e6:.4f}" if lo_r else "-"
        hi = f"{hi_r.rate / 1e6:.4f}" if hi_r else "-"
        return f"[{lo}, {hi}] Mpps"

    repeated: list[TrialResult] = []

    def run(rate: float) -> TrialResult:
        nonlocal lo_r, hi_r, ran
        r = trial(rate)
        while not r.passes(goal_loss) and r.tester_stalled and len(repeated) < TESTER_STALL_REPEATS:
            repeated.append(r)           # RFC 2544 practice: a trial the tester spoiled is run again
            if progress is not None:
                progress(r, f"tester stalled ({r.gaps} gaps, up to {r.gap_max_s * 1e3:.1f} ms): repeating")
            r = trial(rate)
        ran += 1
        results.append(r)
        if r.passes(goal_loss):
            if lo_r is None or r.rate > lo_r.rate:
                lo_r = r
        elif hi_r is None or r.rate < hi_r.rate:
            hi_r = r
        if hi_r is not None and lo_r is not None and lo_r.rate >= hi_r.rate:
            lo_r = max((x for x in results if x.passes(goal_loss) and x.rate < hi_r.rate),
                       key=lambda x: x.rate, default=None)  # noise: a lower rate failed
        if progress is not None:
            progress(r, ("pass" if r.passes(goal_loss) else "FAIL") + f", bounds {state()}")
        return r

    if lo_r is None and hi_r is None or (hi_r is None and lo_r is not None and lo_r.rate < max_rate):
        run(max_rate)
    steps = up = 0
    while ran < max_trials:
        if hi_r is None:                 # the upper bound passed
            break
        if lo_r is not None:
            if hi_r.rate - lo_r.rate <= width * hi_r.rate:
                break
            # far from the failing bound: climb from the passing one in growing steps (the rate a
            # failed trial forwarded usually lands just below the answer), else bisect
            mid = (lo_r.rate + hi_r.rate) / 2
            climb = lo_r.rate * (1 + width * 2 ** up)
            if climb < mid:
                before = lo_r
                run(climb)
                up = up + 1 if lo_r is not before else 0
            else:
                run(mid)
            continue
        if hi_r.rate <= min_rate:        # even the lowest rate fails
            break
        step = width * 4 ** steps
        steps += 1
        guess = min(hi_r.received_pps * (1 - width / 2), hi_r.rate * (1 - step)) if hi_r.received_pps > 0 \
            else hi_r.rate * (1 - step)
        run(max(guess, min_rate))
    return SearchResult(goal_loss=goal_loss, rate=lo_r.rate if lo_r else 0.0, upper=hi_r.rate if hi_r else None,
                        max_rate=max_rate, trials=results, best=lo_r,
                        exhausted=ran >= max_trials and hi_r is not None and
                        (lo_r is None or hi_r.rate - lo_r.rate > width * hi_r.rate), repeated=repeated)


@dataclass
class Throughput:
    """NDR (and PDR when asked) of one frame size or pattern, and the tester's own ceiling."""
    frames: str
    ceiling: TrialResult
    max_rate: float
    ndr: SearchResult
    pdr: SearchResult | None = None

    @property
    def trials(self) -> int:
        return len(self.ndr.trials) + (len(self.pdr.trials) - len(self.ndr.trials) if self.pdr else 0)


def median_search(results: Sequence[Throughput], loss: float = 0.0) -> tuple[SearchResult, list[float]]:
    """Of repeated searches, the median one for ``loss`` (0: the NDR; else the PDR search, which was run
    at that loss ratio), and every rate found, sorted. With an even count, the lower middle."""
    searches = sorted((r.ndr if loss <= 0 or r.pdr is None else r.pdr for r in results), key=lambda s: s.rate)
    return searches[(len(searches) - 1) // 2], [s.rate for s in searches]


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
    return Throughput(frames=tester.frames, ceiling=ceil, max_rate=max_rate, ndr=ndr, pdr=pdr)


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

    def tester(self, lcore: int, pool: Mempool, *, burst: int, flows: int, frames, drain_s: float) -> Tester:
        return Tester(lcore, pool, self.tx, self.rx, rx_queues=self.rx_queues, burst=burst, flows=flows,
                      frames=frames, drain_s=drain_s, pending=self.pending)

    def close(self) -> list[str]:
        problems = []
        for fn in reversed(self.closers):
            try:
                problems += fn() or []
            except HarnessError as exc:
                problems.append(str(exc))
        self.closers.clear()
        return problems


def memif_testpmd(pool: Mempool, journal, *, testpmd_cpu: int, burst: int = 32, rx_desc: int = 1024,
                  tx_desc: int = 1024, link_timeout_s: float = 10.0) -> DutPath:
    """An external DPDK application as the DUT: a ``net_memif`` server port in this process (through
    rte_vdev_init) and ``dpdk-testpmd`` in io mode as its memif client, forwarding what it receives
    back on the same interface. testpmd runs in its own process with its own --file-prefix, --no-pci,
    both of its lcores on ``testpmd_cpu``; the socket lives in a directory the journal removes."""
    from harness import probe  # the module, for vdev_create/vdev_destroy
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
                     app_args=["--forward-mode=io", "--port-topology=loop", "--nb-cores=1", f"--burst={burst}",
                               "--rxq=1", "--txq=1", f"--rxd={rx_desc}", f"--txd={tx_desc}", "--no-lsc-interrupt",
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


# ---------------------------------------------------------------- dpdk-testpmd

TESTPMD = "dpdk-testpmd"
RUNTIME_BASE = "/var/run/dpdk"


def testpmd_path() -> str | None:
    return shutil.which(TESTPMD)


@dataclass
class PortStats:
    rx: int
    tx: int
    rx_missed: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_nombuf: int = 0
    rx_pps: int = 0
    tx_pps: int = 0


_PORT_BLOCK = re.compile(r"NIC statistics for port (\d+)\s*#+(.*?)#{20,}", re.S)


def parse_port_stats(text: str) -> dict[int, PortStats]:
    """``show port stats all`` output -> {port: PortStats}."""
    out = {}
    for m in _PORT_BLOCK.finditer(text):
        body = m.group(2)

        def num(label: str) -> int:
            f = re.search(rf"{label}:\s*(\d+)", body)
            return int(f.group(1)) if f else 0

        out[int(m.group(1))] = PortStats(rx=num("RX-packets"), tx=num("TX-packets"), rx_missed=num("RX-missed"),
                                         rx_errors=num("RX-errors"), tx_errors=num("TX-errors"),
                                         rx_nombuf=num("RX-nombuf"), rx_pps=num("Rx-pps"), tx_pps=num("Tx-pps"))
    return out


class Testpmd:
    """``dpdk-testpmd -i`` as a child process driven through its prompt.

    Always ``--no-pci`` (it never probes PCI devices), its own ``--file-prefix``, and no files of
    its own: ``--in-memory`` with hugepages, ``--no-huge --no-shconf`` without; ``close()`` quits it
    (kills it if it hangs) and removes its runtime dir if EAL made one.
    It also dies with us: its stdin is our pipe (EOF quits testpmd) and PR_SET_PDEATHSIG.
    """

    PROMPT = "testpmd> "

    def __init__(self, *, lcores: str, vdevs: Sequence[str], app_args: Sequence[str] = (), memory_mb: int = 256,
                 hugepages: bool = False, huge_dir: str | None = None, prefix: str | None = None,
                 log_level: str = "notice", journal=None):
        path = testpmd_path()
        if path is None:
            raise HarnessError("dpdk-testpmd not found; install it with apt-get install dpdk")
        self.prefix = prefix or f"dh-tp-{os.getpid()}-{secrets.token_hex(3)}"
        eal = [path, "--lcores", lcores, "--file-prefix", self.prefix, "--no-pci", f"--log-level={log_level}"]
        if hugepages:
            eal += ["--in-memory", "-m", str(memory_mb)] + (["--huge-dir", huge_dir] if huge_dir else [])
        else:  # --in-memory does not go with --no-huge (legacy memory): no shared config files instead
            eal += ["--no-huge", "--no-shconf", "-m", str(memory_mb)]
        for v in vdevs:
            eal += ["--vdev", v]
        # testpmd prints through stdio: line-buffer it, or a pipe holds command output until exit
        stdbuf = shutil.which("stdbuf")
        self.argv = ([stdbuf, "-oL", "-eL"] if stdbuf else []) + eal + ["--", "-i", *app_args]
        self.runtime_dir = os.path.join(RUNTIME_BASE, self.prefix)
        if journal is not None:
            if not os.path.isdir(RUNTIME_BASE):  # testpmd's EAL creates it: remove it again once empty
                journal.record("empty_dir", path=RUNTIME_BASE)
            journal.record("dir", path=self.runtime_dir)
        self._buf = ""
        self._cv = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True, name="testpmd-reader")
        self._reader.start()
        try:
            self._until_prompt(timeout_s=30.0, what="start")
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cv:
                if not chunk:
                    self._eof = True
                    self._cv.notify_all()
                    return
                self._buf += chunk.decode(errors="replace")
                self._cv.notify_all()

    def _until_prompt(self, timeout_s: float, what: str) -> str:
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self.PROMPT not in self._buf:
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    tail = " | ".join(self._buf.strip().splitlines()[-6:])
                    state = f"exited with status {self._status()}" if self._eof else f"no prompt in {timeout_s:g}s"
                    raise HarnessError(f"dpdk-testpmd ({what}): {state}; last output: {tail}")
                self._cv.wait(min(left, 0.1))
            out, _, self._buf = self._buf.partition(self.PROMPT)
            return out

    def _status(self):
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def cmd(self, line: str, timeout_s: float = 10.0) -> str:
        """Run one testpmd command; returns what it printed."""
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self._until_prompt(timeout_s, line)

    def port_stats(self) -> dict[int, PortStats]:
        return parse_port_stats(self.cmd("show port stats all"))

    def output(self) -> str:
        with self._cv:
            return self._buf

    def close(self) -> list[str]:
        """Quit (or kill) testpmd and remove its runtime directory; returns problems."""
        problems = []
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"stop\nquit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"dpdk-testpmd (pid {self.proc.pid}) did not quit in 10 s: killed")
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=2)
        if os.path.isdir(self.runtime_dir):
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if os.path.isdir(self.runtime_dir):
            problems.append(f"cannot remove {self.runtime_dir}")
        return problems

    def __enter__(self) -> "Testpmd":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass
