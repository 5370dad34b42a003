"""The latency histogram: buckets exact to 64 cycles, then 32 per power of two (perf.c fills it); percentiles
and the sampled-frame figure a report shows. Pure Python, importable without the compiled probe."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from harness.errors import UsageError
from harness.native.defines import define

HIST_BUCKETS = define("PROBE_PERF_HIST_BUCKETS")
HIST_EXACT = 64
HIST_SUB_BITS = 5
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}

# the generator stamps 1 frame in LAT_SAMPLE with its TSC (the others carry 0) and the receiver times only
# those: both do less per frame, and at the rates a trial runs a 1-in-16 sample still holds thousands of
# frames. Sequence, loss and duplicate accounting stay per frame.
LAT_SAMPLE = 16
LAT_SAMPLE_MAX = define("PROBE_PERF_LAT_SAMPLE_MAX")


def check_lat_sample(period: int) -> int:
    """``period`` if it is a sampling period perf.c takes (a power of two, 1..LAT_SAMPLE_MAX); UsageError
    otherwise."""
    if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= LAT_SAMPLE_MAX \
            or period & (period - 1):
        raise UsageError(f"latency sampling period {period!r}: expected a power of two from 1 (every frame) to "
                         f"{LAT_SAMPLE_MAX}, e.g. {LAT_SAMPLE}")
    return period


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
    """Latency of one trial in microseconds: min, mean, p50, p90, p99, p99.9, max, and frames timed.

    ``count`` is the frames timed: the stamped ones, 1 in ``sample`` of those received, not the frames
    received (TrialResult.received is)."""
    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    sample: int = 1             # the generator stamped 1 frame in this many

    def sampled(self) -> str:
        """How many frames the figures come from: ``1250 sampled frames (1 in 16)``."""
        if self.sample == 1:
            return f"{self.count} frames (every frame timed)"
        return f"{self.count} sampled frames (1 in {self.sample})"

    def get(self, name: str) -> float:
        """By the profile's key: p50, p90, p99, p999 or max."""
        return getattr(self, name)

    def line(self) -> str:
        return (f"min {self.min:.2f} / p50 {self.p50:.2f} / p90 {self.p90:.2f} / p99 {self.p99:.2f} / "
                f"p99.9 {self.p999:.2f} / max {self.max:.2f} us, {self.sampled()}")


def latency_from(buckets: Sequence[int], tsc_hz: int, *, count: int, lat_min: int, lat_max: int,
                 lat_sum: int, sample: int = 1) -> Latency | None:
    """The receivers' latency counters (``count`` stamped frames, 1 in ``sample``) in microseconds."""
    if count == 0 or not tsc_hz:
        return None
    us = 1e6 / tsc_hz
    # count > 0: every percentile exists
    pct = {k: (percentile(buckets, v, lo=lat_min, hi=lat_max) or 0) * us for k, v in PERCENTILES.items()}
    return Latency(count=count, min=lat_min * us, mean=lat_sum / count * us, max=lat_max * us, sample=sample,
                   **pct)
