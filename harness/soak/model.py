"""Soak verdicts: pure maths on a time series, importable without the compiled probe.

A soak samples every few seconds while traffic runs; each check is judged on the least-squares
slope of its series over the whole soak, never on its end points, so one burst at the last
sample neither hides a leak nor invents one:

* ``mbufs in use``: slope x duration must stay within what bursts and lcore caches can move
  ((burst + cache) per lcore), as suites/mempool's short leak check does;
* ``rx_nombuf`` and ``imissed``: the slope of each cumulative counter is its rate; it must be 0/s;
* worker involuntary context switches: the rate must stay within
  ``eal.max_involuntary_ctx_switches_per_s``;
* pool headroom: at least a burst of mbufs stays free under load (the lowest count the worker's loop
  saw in each window, when the wire is fullest; the lowest of all is reported): below a burst, a bulk
  allocation or an rx refill fails.

A check on a counter the ports do not keep (net_ring counts no imissed) is not judgeable: its
:class:`Check` has ``passed`` None and says why, naming the device; it is never a pass.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.I)
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
MIN_S, MAX_S = 10.0, 7 * 24 * 3600.0


def parse_duration(text: str, option: str = "--dpdk-soak") -> float:
    """``"1h"`` -> 3600.0, ``"2m"`` -> 120.0, ``"90s"``/``"90"`` -> 90.0; UsageError naming the fix."""
    m = _DURATION.match(str(text))
    if not m:
        raise UsageError(f"{option}: {str(text)[:40]!r} is not a duration; write e.g. {option} 2m, 30m or 1h")
    seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "").lower() or None]
    if not MIN_S <= seconds <= MAX_S:
        raise UsageError(f"{option}: {text} is outside 10s..7d; a soak needs at least 10 s of samples to fit a "
                         f"slope, e.g. {option} 2m")
    return seconds


def sample_interval(duration_s: float) -> float:
    """Every few seconds: 2 s up to 10 minutes, 5 s beyond (about 60..700 samples an hour)."""
    return 2.0 if duration_s <= 600 else 5.0


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(t, v)`` points (v per second); 0 with fewer than two."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0


@dataclass
class Sample:
    t: float                 # seconds since the soak started
    in_use: int              # mbufs of the pool in use
    free: int                # mbufs free (ring + caches)
    rx_nombuf: int           # cumulative, all ports
    imissed: int             # cumulative, all ports
    ctx_nonvoluntary: int    # cumulative, the worker thread
    rx_pkts: int             # cumulative, received by the loop
    tx_pkts: int
    free_min: int | None = None  # the lowest free count the worker's loop saw in the window (under load)

    @property
    def headroom(self) -> int:
        return self.free if self.free_min is None else min(self.free, self.free_min)


@dataclass
class Check:
    name: str
    value: float
    unit: str
    target: float
    op: str
    passed: bool | None      # None: not judgeable on these ports (message says why)
    message: str
    extra: dict = field(default_factory=dict)


SERIES = ("in_use", "free", "free_min", "rx_nombuf", "imissed", "ctx_nonvoluntary", "rx_pkts", "tx_pkts")


def _pts(samples: list[Sample], key: str) -> list[tuple[float, float]]:
    return [(s.t, float(getattr(s, key))) for s in samples]


POOL_FIX = "raise mempool.mbufs or find what holds mbufs (see the in-use trend)"


def verdicts(samples: list[Sample], *, leak_noise: int, max_ctx_per_s: float, min_free: int = 1,
             pool_fix: str = POOL_FIX, not_judgeable: Mapping[str, str] | None = None) -> list[Check]:
    """One :class:`Check` per lifecycle check of the soak; each message says expected, measured, fix.

    ``min_free``: the headroom a pool needs at every moment (a burst: below it a bulk allocation or an
    rx refill of a burst fails); ``pool_fix``: what to change when it has less, or when rx_nombuf
    grows (the same pool ran dry at the rx refill). ``not_judgeable``:
    check name -> why these ports cannot move its counter (capabilities.missing); that check gets
    ``passed`` None and the reason, never a pass."""
    skip = dict(not_judgeable or {})
    if len(samples) < 3:
        raise ValueError(f"a soak needs at least 3 samples to judge slopes, got {len(samples)}")
    span = samples[-1].t - samples[0].t
    checks = []
    leak = slope(_pts(samples, "in_use"))
    bound = leak_noise / span
    checks.append(Check(
        "soak_mbufs_in_use_slope", leak, "mbufs/s", bound, "<=", leak <= bound,
        f"mbufs in use trend {leak:+.2f}/s over {span:.0f} s ({len(samples)} samples, first {samples[0].in_use}, "
        f"last {samples[-1].in_use}); at most {bound:.2f}/s (what bursts and caches can move, {leak_noise} mbufs, "
        "over the soak) is noise: a slow leak; find the path that drops mbufs without freeing them",
        {"samples": len(samples), "span_s": round(span, 1)}))
    for key, what, fix in (
            ("rx_nombuf", "rx_nombuf (rx found no free mbuf)", pool_fix),
            ("imissed", "imissed (the NIC dropped for lack of rx descriptors)",
             "raise queues.rx_desc or give the rx lcore its CPU alone")):
        rate = slope(_pts(samples, key))
        name = f"soak_{key}_rate"
        if name in skip:
            checks.append(Check(name, rate, "1/s", 0.0, "<=", None,
                                f"not judgeable: {skip[name]}; the {key} counter cannot move on these ports"))
            continue
        checks.append(Check(
            name, rate, "1/s", 0.0, "<=", rate <= 0.0,
            f"{what} grew at {rate:.2f}/s over the soak ({getattr(samples[0], key)} -> {getattr(samples[-1], key)}); "
            f"expected 0/s; {fix}"))
    ctx = slope(_pts(samples, "ctx_nonvoluntary"))
    checks.append(Check(
        "soak_worker_involuntary_ctx_switches", ctx, "1/s", max_ctx_per_s, "<=", ctx <= max_ctx_per_s,
        f"the worker was preempted {ctx:.1f} times/s over the soak; at most eal.max_involuntary_ctx_switches_per_s "
        f"= {max_ctx_per_s:g}; isolate its CPU (isolcpus, nohz_full) or move what else runs there"))
    low = min(samples, key=lambda s: s.headroom)
    lowest = low.headroom
    checks.append(Check(
        "soak_pool_headroom_min", float(lowest), "mbufs", float(min_free), ">=", lowest >= min_free,
        f"the pool's free mbufs fell to {lowest} under load (the lowest the worker saw, in the window ending at "
        f"{low.t:.0f} s); expected at least {min_free} (a burst) free at every moment, or allocating a burst "
        f"fails: the pool ran dry; {pool_fix}"))
    return checks


def progress_line(done_s: float, total_s: float, samples: list[Sample]) -> str:
    last = samples[-1]
    leak = slope(_pts(samples, "in_use")) if len(samples) >= 2 else 0.0
    rate = ((last.rx_pkts - samples[0].rx_pkts) / (last.t - samples[0].t)) if last.t > samples[0].t else 0.0
    return (f"dpdk-harness soak {_mmss(done_s)}/{_mmss(total_s)}: {len(samples)} samples, rx {rate / 1e6:.2f} Mpps, "
            f"mbufs in use {last.in_use} ({leak:+.2f}/s), rx_nombuf {last.rx_nombuf}, imissed {last.imissed}")


def _mmss(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
