"""Preflight: read-only checks of the host against the profile, before the first host change.

Everything here only reads (``/proc``, ``/sys``, the process's affinity); a failed check is one
:class:`~harness.errors.UsageError` line that names the problem and the fix, so bad input leaves
the host byte-for-byte unchanged and DPDK never gets the chance to panic in ``rte_eal_init``
("Cannot set affinity", legacy memory too small).

* :func:`allowed_cpus`: the CPUs this process was given: its affinity mask, within its cgroup
  cpuset (v1 ``cpuset.effective_cpus`` or v2 ``cpuset.cpus.effective``).
* :func:`check_hugepages`: pages needed (:func:`hugepages_needed`, the one definition: the pool,
  queues and EAL overhead that ``eal.memory_mb`` covers, plus EAL's bookkeeping) against the free
  pages plus what can be reserved without taking more than :data:`MEMAVAILABLE_SHARE` of
  ``MemAvailable``, on the pool's NUMA node when ``mempool.socket`` names one.
* :func:`check_extra_args`: EAL options the harness itself owns, and combinations known to
  break the plan.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable

from harness.errors import UsageError
from harness.profile import MBUF_OVERHEAD, check_host

HUGEPAGE_MARGIN = 8  # pages beyond eal.memory_mb, for EAL's own bookkeeping

#: At most this share of MemAvailable may become new hugepages for one run.
MEMAVAILABLE_SHARE = 0.5

#: ``--legacy-mem`` maps all of ``-m`` at start-up and never grows: EAL's own memzones (tail
#: queues, malloc heap headers, telemetry, ...) need this much beyond the pool, or init fails.
LEGACY_MEM_OVERHEAD_MB = 64

#: Set before EAL boots to the CPUs the run was given: EAL then pins the main thread to one
#: CPU, and harness runs started from that thread (nested runs) would inherit the narrow mask.
PARENT_CPUS_ENV = "DPDK_HARNESS_PARENT_CPUS"

MAX_SHOWN = 80  # characters of a user-supplied value quoted back in a message


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def cut(value, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a user value, cut to ``limit`` characters with the length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(str(value))} characters)"


def parse_cpu_list(text: str) -> set[int]:
    """``0-3,6`` -> {0, 1, 2, 3, 6}; empty or malformed text -> empty set."""
    cpus: set[int] = set()
    for part in filter(None, text.strip().replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        try:
            cpus.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            return set()
    return cpus


def cgroup_cpuset(proc_root="/proc", sys_root="/sys") -> set[int] | None:
    """The effective cpuset of this process's cgroup, or None when none can be read."""
    try:
        lines = (Path(proc_root) / "self/cgroup").read_text().splitlines()
    except OSError:
        return None
    base = Path(sys_root) / "fs/cgroup"
    candidates = []
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        path = path.lstrip("/")
        if hid == "0" and controllers == "":
            candidates.append(base / path / "cpuset.cpus.effective")       # cgroup v2
        elif "cpuset" in controllers.split(","):
            candidates.append(base / "cpuset" / path / "cpuset.effective_cpus")  # cgroup v1
    for f in candidates:
        try:
            cpus = parse_cpu_list(f.read_text())
        except OSError:
            continue
        if cpus:
            return cpus
    return None


def allowed_cpus(proc_root="/proc", sys_root="/sys", affinity: Iterable[int] | None = None,
                 environ=os.environ) -> set[int]:
    """The CPUs this run may put lcores on: affinity mask ∩ cgroup cpuset.

    A run nested in a booted harness run (whose main thread EAL pinned to one CPU) uses the
    CPUs its parent run was given, from :data:`PARENT_CPUS_ENV`, when its own mask is within them.
    """
    mask = set(os.sched_getaffinity(0) if affinity is None else affinity)
    parent = parse_cpu_list(environ.get(PARENT_CPUS_ENV, ""))
    if parent and mask <= parent:
        mask = parent
    cpuset = cgroup_cpuset(proc_root, sys_root)
    return mask & cpuset if cpuset is not None else mask


def mem_available_kb(proc_root="/proc") -> int | None:
    try:
        for line in (Path(proc_root) / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _pool_free(size_kb: int, node: int | None, sys_root) -> int | None:
    base = Path(sys_root)
    d = (base / "kernel/mm/hugepages" if node is None
         else base / f"devices/system/node/node{node}/hugepages") / f"hugepages-{size_kb}kB"
    try:
        return int((d / "free_hugepages").read_text().strip())
    except (OSError, ValueError):
        return None  # no such pool: ensure_free names the sizes and nodes there are


def hugepages_needed(profile) -> int:
    """Hugepages a run reserves: ``eal.memory_mb`` (which must hold the pool, the queues and EAL's
    heap: the profile checks the pool fits) in pages, plus a margin for EAL's bookkeeping on 2M pages."""
    size_kb = profile.eal.hugepage_size_kb
    return math.ceil(profile.eal.memory_mb * 1024 / size_kb) + (HUGEPAGE_MARGIN if size_kb <= 2048 else 0)


def check_hugepages(profile, *, sys_root="/sys", proc_root="/proc", share: float = MEMAVAILABLE_SHARE) -> None:
    """Refuse a profile whose hugepages cannot be had without taking over the host's memory."""
    e = profile.eal
    if not e.hugepages:
        return
    size_kb = e.hugepage_size_kb
    node = profile.mempool.socket if profile.mempool.socket >= 0 else None
    free = _pool_free(size_kb, node, sys_root)
    avail = mem_available_kb(proc_root)
    if free is None or avail is None:
        return
    need = hugepages_needed(profile)
    if free >= need:
        return
    may_add = int(avail * share) // size_kb
    if free + may_add >= need:
        return
    where = "" if node is None else f" on NUMA node {node}"
    margin = need - math.ceil(e.memory_mb * 1024 / size_kb)
    fits_mb = max(0, (free + may_add - margin) * size_kb // 1024)
    fix = (f"lower eal.memory_mb to at most {fits_mb}" if fits_mb >= 16 else
           "free memory first")
    raise UsageError(
        f"eal.memory_mb: {e.memory_mb} MB needs {need} x {size_kb}kB hugepages{where}; {free} are free and "
        f"at most {may_add} more may be reserved ({share:.0%} of MemAvailable {avail // 1024} MB); "
        f"{fix}, or pre-reserve the pages yourself (hugepages={need} on the kernel command line)")


# EAL options the harness sets itself: passing them would break the journal, restore or the plan.
_HARNESS_OWNED = {
    "--file-prefix": "the harness names each run's runtime directory (dh-<pid>-…) so that exit and "
                     "`python -m harness restore` can find and remove it",
    "--huge-dir": "the harness picks or mounts the hugetlbfs for eal.hugepage_size",
    "--huge-unlink": "the harness always passes it",
    "--no-pci": "vdev runs pass it and NIC runs pass an allowlist (--nic)",
    "-b": "EAL never scans PCI here: NIC runs pass an allowlist (--nic)",
    "--block": "EAL never scans PCI here: NIC runs pass an allowlist (--nic)",
    "--proc-type": "the harness runs a primary process of its own",
}


def check_extra_args(profile) -> None:
    """``eal.extra_args`` must not take over what the harness sets, nor break the memory plan."""
    args = list(profile.eal.extra_args)
    for i, a in enumerate(args):
        name = a.split("=", 1)[0] if a.startswith("--") else a[:2]
        why = _HARNESS_OWNED.get(name)
        if why:
            raise UsageError(f"eal.extra_args[{i}]: {cut(a)} is set by the harness ({why}); "
                             "remove it from extra_args")
    if "--legacy-mem" in args and profile.eal.hugepages:
        mp = profile.mempool
        pool_mb = -(-mp.mbufs * (mp.data_room + MBUF_OVERHEAD) // (1 << 20))
        need = pool_mb + LEGACY_MEM_OVERHEAD_MB
        if profile.eal.memory_mb < need:
            raise UsageError(
                f"eal.extra_args: --legacy-mem maps only eal.memory_mb = {profile.eal.memory_mb} MB at start-up "
                f"and never grows, but the pool needs {pool_mb} MB plus about {LEGACY_MEM_OVERHEAD_MB} MB for "
                f"EAL itself; raise eal.memory_mb to at least {need} or drop --legacy-mem")
    if "--legacy-mem" in args and "--single-file-segments" in args:
        raise UsageError("eal.extra_args: --single-file-segments does not work with --legacy-mem (EAL refuses "
                         "the pair); drop one of them")


def check_cpus(profile, cpus: Iterable[int], key: str) -> None:
    check_host(profile, cpus, key=key)


def run(profile, *, lcores_key: str, sys_root="/sys", proc_root="/proc") -> None:
    """Every preflight check, cheapest first; raises the first problem as one UsageError line."""
    check_cpus(profile, allowed_cpus(proc_root, sys_root), lcores_key)
    check_extra_args(profile)
    check_hugepages(profile, sys_root=sys_root, proc_root=proc_root)


_REJECT_RE = re.compile(r"unrecognized option|invalid option|invalid parameter|invalid .*argument|"
                        r"requires an argument|not compatible|cannot use|error|unknown", re.I)
_GENERIC = ("Invalid 'command line' arguments", "FATAL: Invalid")


def eal_rejection(output: str, args: list[str], extra: Iterable[str]) -> str | None:
    """EAL's own line that rejected its arguments, naming the extra_args entry it is about."""
    extra = list(extra)
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    specific = [ln for ln in lines if _REJECT_RE.search(ln) and not any(g in ln for g in _GENERIC)]
    if not specific:
        return None
    line = specific[0]
    for i, a in enumerate(extra):
        opt = a.split("=", 1)[0]
        if a in line or (opt.startswith("-") and opt.lstrip("-") and opt.lstrip("-") in line):
            return (f"EAL rejected eal.extra_args[{i}] {cut(a)}: {shorten(line, 160)}; "
                    "fix or remove that argument (`dpdk-testpmd --help` lists EAL's options)")
    return f"EAL rejected its arguments: {shorten(line, 160)}; check eal.extra_args and the profile"
