"""Throughput maths: frames and line rate, trial results and the NDR/PDR search (the latency histogram is
harness/perf/latency.py).

Pure Python (no compiled probe): :func:`search` takes the trial as a function, so tests/unit drive it
with a model DUT.

Why not MLRsearch (FD.io CSIT's search, on PyPI): its goal/measurer machinery is built for
hour-long hardware runs with several loss-ratio goals; a CI search here is a handful of 0.1 s
trials, and a plain bracketed bisection, started from the forwarding rate a failed trial shows,
is a few dozen lines that the unit tests can prove. Nothing is added to the dependencies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence, TypeVar

from harness.errors import OverloadedTesterError, UsageError
from harness.frames import (  # noqa: F401  (perf.<name> for the suites)
    IMIX,
    LINK_GBPS_RANGE,
    MAX_FRAME,
    MIN_FRAME,
    PATTERNS,
    WIRE_OVERHEAD,
    bits_per_second,
    frame_pattern,
    frames_label,
    line_rate_pps,
    mean_frame_size,
)
from harness.perf.latency import (  # noqa: F401  (perf.<name> for the suites)
    HIST_BUCKETS,
    HIST_EXACT,
    HIST_SUB_BITS,
    LAT_SAMPLE,
    LAT_SAMPLE_MAX,
    PERCENTILES,
    Latency,
    bucket_range,
    check_lat_sample,
    hist_index,
    latency_from,
    percentile,
)
from harness.system import procfs

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
    gap_s: float = 0.0          # their total: time the tester's lcore was not running
    ext_stall_s: float = 0.0    # time an external DUT's threads (dpdk-testpmd) waited for a CPU (preempted)
    rate_slack: float = 0.0     # a passing trial offers at least rate x (1 - rate_slack)
    dut: dict = field(default_factory=dict)     # calibrated DUT counters, when there is one
    rx_per_queue: tuple[int, ...] = ()          # distinct frames received on each rx queue polled, in order
    latency: Latency | None = None
    hist: list[int] = field(default_factory=list, repr=False)   # latency of the stamped frames only
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
    def tester_short(self) -> int:
        """Tester loss: frames the generator did not offer on schedule, never handed over (ungenerated)
        or handed over so late that the offered rate fell short of the intended one."""
        late = round(self.intended * -self.rate_error) if self.offered_short else 0
        return max(self.ungenerated, late)

    @property
    def device_lost(self) -> int:
        """Device loss: frames handed to the port that did not come back (tx refused them, or they
        were lost on the way). Frames the generator never handed over are not the device's."""
        return max(0, self.attempted - self.received)

    def spoiled(self, goal_loss: float = 0.0) -> str | None:
        """Why this trial says nothing about the device, or None.

        A trial is spoiled when what made it fail is the tester not keeping up: the generator fell short
        of its own schedule (tester loss) by no more than the frames due while its lcore was not running
        (gaps: the lcore preempted), and the device lost nothing beyond the goal, or no more than the
        frames due while the external application's threads waited for a CPU. Such a trial is run again
        (RFC 2544 practice); a shortfall no pause explains is the generator's own limit, and a device
        that lost frames with no pause to explain it fails the trial whatever the tester did."""
        short, dev = self.tester_short, self.device_lost
        dev_bad = bool(self.intended) and dev / self.intended > goal_loss
        if not short and not dev_bad:
            return None
        why = []
        if short:
            if not self.gaps or short > self.rate * self.gap_s + self.burst:
                return None
            why.append(f"generator behind schedule: {short} of {self.intended} frames not offered on time "
                       f"while its lcore was off its CPU {self.gaps} times for {self.gap_s * 1e3:.1f} ms "
                       f"(longest {self.gap_max_s * 1e3:.1f} ms)")
        if dev_bad:
            if not self.ext_stall_s or dev > self.rate * self.ext_stall_s + self.burst:
                return None
            why.append(f"external application preempted: its threads waited {self.ext_stall_s * 1e3:.1f} ms for a "
                       f"CPU while {dev} frames were lost")
        return "; ".join(why) + f" (tester loss {short}, device loss {dev})"

    @property
    def tester_stalled(self) -> bool:
        """Kept for callers of the earlier name: :meth:`spoiled` at zero loss."""
        return self.spoiled() is not None

    def passes(self, goal_loss: float = 0.0) -> bool:
        lossless = self.lost == 0 if goal_loss <= 0 else self.loss_ratio <= goal_loss
        return lossless and not self.offered_short

    def line(self) -> str:
        return (f"{self.frames} {self.rate / 1e6:.4f} Mpps x {self.duration:g}s: intended {self.intended}, "
                f"offered {self.offered_pps / 1e6:.4f} Mpps, received {self.received_pps / 1e6:.4f} Mpps, "
                f"lost {self.lost} ({self.loss_ratio:.2e}: device {self.device_lost} of which unsent {self.unsent}, "
                f"tester {self.ungenerated} ungenerated"
                + (f", dut drops {self.dut.get('dut_drops', 0)}" if self.dut else "") + ")"
                + (f", offered {self.rate_error:+.2%} short of intended" if self.offered_short else ""))


def flow_queue(received_per_queue: Sequence[int]) -> tuple[int | None, str]:
    """The one rx queue the frames of a single flow arrived on, or (None, why not): none arrived, or
    they arrived on several queues (a device that does not keep a flow on one queue)."""
    hit = [q for q, n in enumerate(received_per_queue) if n]
    if len(hit) == 1:
        return hit[0], ""
    if not hit:
        return None, f"none of its frames arrived on any of the {len(received_per_queue)} rx queues"
    spread = ", ".join(f"{q} ({received_per_queue[q]})" for q in hit)
    return None, f"its frames arrived on rx queues {spread}: the device does not keep one flow on one queue"


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
    spoiled: list[TrialResult] = field(default_factory=list)   # failing trials kept although spoiled (budget out)

    def tester_overload(self, floor: float | None = None) -> str | None:
        """Why a result below ``floor`` (default: the lowest failing rate) says nothing about the device,
        or None: trials below it, or the lowest failing trial (which bounds the result), failed only
        because the tester could not keep up, even after the repeats, and no trial the tester did not
        spoil failed below the floor. A floor above what the tester
        can offer at all (``max_rate``) is the tester's ceiling, judged as such, not an overload."""
        limit = self.upper if floor is None else floor
        if not self.spoiled or limit is None or limit > self.max_rate * (1 + 1e-9):
            return None
        failing = [t for t in self.trials if not t.passes(self.goal_loss)]
        if any(t.rate < limit and t.spoiled(self.goal_loss) is None for t in failing):
            return None  # the device lost frames below the floor on its own
        # spoiled failures below the floor, or the one that is the lowest failing rate: it cut the search off
        # (the result lands within the width under it), so the result below the floor is the tester's
        bound = self.upper if self.upper is not None else -1.0
        below = [t for t in self.spoiled if t.rate <= limit * (1 + 1e-9) or abs(t.rate - bound) <= 1e-9 * bound]
        if not below:
            return None
        worst = min(below, key=lambda t: t.rate)
        return (f"trials at {', '.join(f'{t.rate:,.0f}' for t in sorted(below, key=lambda t: t.rate)[:3])} pps failed "
                f"only because the tester could not keep up ({len(self.repeated)} repeats spent), e.g. at "
                f"{worst.rate:,.0f} pps: {worst.spoiled(self.goal_loss)}")

    @property
    def bounded_by_max(self) -> bool:
        """The upper bound itself passed: the real rate may be higher."""
        return self.upper is None and self.rate > 0

    @property
    def width(self) -> float:
        return (self.upper - self.rate) / self.upper if self.upper else 0.0


TESTER_STALL_REPEATS = 12  # per search: trials repeated because the tester's own lcore stalled
#: per measurement outside a search: trials run again because the tester spoiled them
SPOILED_RETRIES = 4


#: a worker lcore that waited this long for its CPU during a run was preempted: what it missed is the tester's
PREEMPTED_S = 0.001


def judgeable_trial(run: Callable[[], TrialResult], *, what: str, goal_loss: float = 0.0,
                    retries: int = SPOILED_RETRIES) -> TrialResult:
    """Run a trial until it is not spoiled by the tester (:meth:`TrialResult.spoiled`), up to
    ``retries`` more times; then raise :class:`OverloadedTesterError`, an ERROR, never a device FAIL.

    A trial that passes is judgeable whatever the tester did; so is one where the device lost frames."""
    spoiled: list[TrialResult] = []
    for _ in range(retries + 1):
        r = run()
        reason = r.spoiled(goal_loss)
        if r.passes(goal_loss) or reason is None:
            return r
        spoiled.append(r)
    raise OverloadedTesterError(overload_message(what, spoiled))


def overload_message(what: str, spoiled: Sequence[TrialResult]) -> str:
    last = spoiled[-1]
    return (f"tester overloaded: {what}: {len(spoiled)} trial(s) in a row spoiled by the tester, the last "
            f"{last.frames} at {last.rate:,.0f} pps: {last.spoiled() or last.line()}; tester loss "
            f"{last.tester_short} frames, device loss {last.device_lost}: nothing is known about the device; "
            "give the worker lcore a CPU of its own (eal.lcores, isolcpus; see suites/affinity) or re-run on a "
            "quieter host")


@dataclass(frozen=True)
class RunLoss:
    """What a run that is not a paced trial lost (a capture, frames fed from the kernel side, a fixed count through a
    wire): frames the tester meant to offer (``intended``), handed to the device (``offered``: sent, injected) and
    ``received``, and how long the tester's worker lcores waited for a CPU meanwhile (``waited_s``: schedstat's
    run delay, :func:`harness.system.procfs.lcores_waited_s`). Such a run has no schedule to fall behind, so
    the off-CPU time is what says whether the tester kept up."""
    intended: int
    offered: int
    received: int
    waited_s: float = 0.0

    @property
    def tester_short(self) -> int:
        """Tester loss: frames the tester never handed over."""
        return max(0, self.intended - self.offered)

    @property
    def device_lost(self) -> int:
        """Device loss: frames handed over that did not arrive."""
        return max(0, self.offered - self.received)

    def spoiled(self) -> str | None:
        """Why this run says nothing about the device, or None: frames went missing (tester or device loss) while
        the worker lcores waited at least :data:`PREEMPTED_S` for a CPU (a poller off its CPU is how a kernel
        queue or a ring overflows). Missing frames with the lcores on their CPUs are the device's: judged."""
        if not (self.tester_short or self.device_lost) or self.waited_s < PREEMPTED_S:
            return None
        return (f"{self.intended - min(self.received, self.intended)} of {self.intended} frames missing while the "
                f"worker lcores waited {self.waited_s * 1e3:.1f} ms for a CPU (tester loss {self.tester_short}, "
                f"device loss {self.device_lost})")


_Run = TypeVar("_Run")


def judgeable_run(run: Callable[[], _Run], counts: Callable[[_Run], tuple[int, int, int]], *, what: str,
                  retries: int = SPOILED_RETRIES, waited_s: Callable[[], float] | None = None) -> _Run:
    """:func:`judgeable_trial` for runs that are not paced trials: call ``run`` until what it returns is not spoiled
    (:meth:`RunLoss.spoiled`; ``counts`` gives its intended, offered and received frames, ``waited_s`` the worker
    lcores' time off their CPUs so far), up to ``retries`` more times; then raise :class:`OverloadedTesterError`,
    an ERROR, never a device FAIL. A run that lost nothing, or lost frames with the lcores on their CPUs, is
    returned for the caller to judge."""
    waited = waited_s or procfs.lcores_waited_s
    last: RunLoss | None = None
    for _ in range(retries + 1):
        before = waited()
        r = run()
        last = RunLoss(*counts(r), waited_s=max(0.0, waited() - before))
        if last.spoiled() is None:
            return r
    assert last is not None
    raise OverloadedTesterError(
        f"tester overloaded: {what}: {retries + 1} run(s) in a row lost frames while the tester was off its CPU, the "
        f"last: {last.spoiled()}: nothing is known about the device; give the worker lcores CPUs of their own "
        "(eal.lcores, isolcpus; see suites/affinity) or re-run on a quieter host")


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
    spoiled: list[TrialResult] = []

    def run(rate: float) -> TrialResult:
        nonlocal lo_r, hi_r, ran
        r = trial(rate)
        while not r.passes(goal_loss) and r.spoiled(goal_loss) and len(repeated) < TESTER_STALL_REPEATS:
            repeated.append(r)           # RFC 2544 practice: a trial the tester spoiled is run again
            if progress is not None:
                progress(r, f"tester stalled ({r.gaps} gaps, up to {r.gap_max_s * 1e3:.1f} ms): repeating")
            r = trial(rate)
        if not r.passes(goal_loss) and r.spoiled(goal_loss):
            spoiled.append(r)            # out of repeats: kept as failing, and the result says so
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
                        (lo_r is None or hi_r.rate - lo_r.rate > width * hi_r.rate), repeated=repeated,
                        spoiled=spoiled)


@dataclass
class Throughput:
    """NDR (and PDR when asked) of one frame size or pattern, and the tester's own ceiling."""
    frames: str
    ceiling: TrialResult
    max_rate: float
    ndr: SearchResult
    pdr: SearchResult | None = None
    placement: str = ""             # which lcore did what, e.g. "gen on lcore 1, recv on lcore 2"

    @property
    def trials(self) -> int:
        return len(self.ndr.trials) + (len(self.pdr.trials) - len(self.ndr.trials) if self.pdr else 0)


def median_search(results: Sequence[Throughput], loss: float = 0.0) -> tuple[SearchResult, list[float]]:
    """Of repeated searches, the median one for ``loss`` (0: the NDR; else the PDR search, which was run
    at that loss ratio), and every rate found, sorted. With an even count, the lower middle."""
    searches = sorted((r.ndr if loss <= 0 or r.pdr is None else r.pdr for r in results), key=lambda s: s.rate)
    return searches[(len(searches) - 1) // 2], [s.rate for s in searches]
