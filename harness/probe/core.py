"""The compiled probe (cffi ``ffi`` and ``lib``), the check that it matches this package, and the
constants and helpers every part of the probe's face shares.
"""
from __future__ import annotations

from typing import Iterable

from harness import __version__
from harness.errors import DpdkUnavailableError, check
from harness.native.defines import define

try:
    from harness._probe import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised by the bad-input tests in a subprocess
    _IMPORT_ERROR = exc
    ffi = lib = None
else:
    _IMPORT_ERROR = None


MODE_FWD, MODE_GEN, MODE_SINK = define("PROBE_MODE_FWD"), define("PROBE_MODE_GEN"), define("PROBE_MODE_SINK")
F_LEAK_UNSENT, F_COPY_FWD = define("PROBE_F_LEAK_UNSENT"), define("PROBE_F_COPY_FWD")
#: Python-side fault (never passed to C): ports are configured with another RSS key than rss.key,
#: as a PMD that does not apply the configured key would leave them.
F_RSS_KEY = 1 << 30
C_FAULTS = F_LEAK_UNSENT | F_COPY_FWD
#: tasks of a run (struct probe_run_conf.tasks): probe.h's PROBE_MAX_TASKS, read from the header's text so
#: this module imports without the compiled probe (the cdef hands lib the same value)
MAX_TASKS = define("PROBE_MAX_TASKS")
#: Python-side fault (never passed to C): every port reports ixgbe's descriptor limits (min 32, max 4096,
#: multiples of 8), as a device stricter than the vdevs would
F_STRICT_DESC_LIM = 1 << 16
STRICT_DESC_LIM = {"desc_min": 32, "desc_max": 4096, "desc_align": 8}
C_FAULTS = F_LEAK_UNSENT | F_COPY_FWD  # the fault bits perf/probe C understands

# rte_ethdev.h RTE_ETH_RSS_* bits (DPDK 22.11), by the names profiles use
RSS_BITS = {
    "ipv4": 1 << 2, "frag-ipv4": 1 << 3, "ipv4-tcp": 1 << 4, "ipv4-udp": 1 << 5,
    "ipv4-sctp": 1 << 6, "ipv4-other": 1 << 7, "ipv6": 1 << 8, "frag-ipv6": 1 << 9,
    "ipv6-tcp": 1 << 10, "ipv6-udp": 1 << 11, "ipv6-sctp": 1 << 12, "ipv6-other": 1 << 13,
    "l2-payload": 1 << 14,
}
RSS_GROUPS = {
    "ip": ("ipv4", "frag-ipv4", "ipv4-other", "ipv6", "frag-ipv6", "ipv6-other"),
    "tcp": ("ipv4-tcp", "ipv6-tcp"),
    "udp": ("ipv4-udp", "ipv6-udp"),
    "sctp": ("ipv4-sctp", "ipv6-sctp"),
}


def rss_hf(names: Iterable[str]) -> int:
    """Profile hash-function names -> RTE_ETH_RSS_* mask."""
    mask = 0
    for name in names:
        for part in RSS_GROUPS.get(name, (name,)):
            mask |= RSS_BITS[part]
    return mask


def require_lib():
    """The compiled module, or a one-line DpdkUnavailableError saying how to get it."""
    if lib is None:
        raise DpdkUnavailableError(
            f"the probe module is not built ({_IMPORT_ERROR}); install DPDK "
            "(apt-get install dpdk dpdk-dev libdpdk-dev pkg-config) and reinstall the harness "
            "with `pip install -e .`"
        )
    built = ffi.string(lib.probe_version()).decode()
    if built != __version__:
        raise DpdkUnavailableError(
            f"stale probe build: compiled for dpdk-harness {built}, package is {__version__}; "
            "rebuild with `pip install -e .`"
        )
    return lib


def dpdk_version() -> str:
    buf = ffi.new("char[]", 128)
    check(require_lib().probe_dpdk_version(buf, 128), "rte_version")
    return ffi.string(buf).decode()


def struct_to_dict(obj, ctype: str) -> dict:
    out = {}
    for name, fld in ffi.typeof(ctype).fields:
        val = getattr(obj, name)
        if fld.type.kind == "array":
            if fld.type.item.cname == "char":
                val = ffi.string(val).decode(errors="replace")
            else:
                val = list(val)
        out[name] = val
    return out
