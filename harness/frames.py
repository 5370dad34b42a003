"""Frame sizes and line rate: frame-size patterns (IMIX), the bytes a frame costs on the wire, the
pps a link carries. Pure; read by the profile (targets as a share of line rate) and the perf area."""
from __future__ import annotations

from typing import Sequence

from harness.errors import UsageError
from harness.native.defines import define

#: preamble (7) + start-of-frame delimiter (1) + inter-frame gap (12): bytes a frame costs beyond itself
WIRE_OVERHEAD = 20
#: IMIX as FD.io CSIT sends it (IMIX_v4_1): 7 x 64, 4 x 570, 1 x 1518 bytes, in this order
IMIX = (64,) * 7 + (570,) * 4 + (1518,)
#: frame-size patterns by name; an integer size is a pattern of one
PATTERNS = {"imix": IMIX, "jumbo": (9000,)}
LINK_GBPS_RANGE = (1.0, 400.0)
MAX_FRAME = define("PROBE_FRAME_MAX_SIZE")   # the largest frame a generator writes (probe.h)
MIN_FRAME = define("PROBE_FRAME_MIN_SIZE")
MAX_SIZES = define("PROBE_PERF_MAX_SIZES")   # sizes in a pattern (struct probe_perf_task.sizes)


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
    if not sizes or len(sizes) > MAX_SIZES:
        raise UsageError(f"frame pattern of {len(sizes)} sizes: give 1..{MAX_SIZES} sizes")
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
