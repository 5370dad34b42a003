"""The Python face of harness/native/affinity.c, and the area's only caller of the probe's ``lib``:
:func:`lcore_thread` reads an lcore's thread from inside it and from outside (``sched_getaffinity``
on its tid, ``/proc/self/task/<tid>/status``); :class:`Spin` keeps a worker busy.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from harness.affinity.model import ROLES, LcoreThread
from harness.errors import check
from harness.probe import Loop, ffi, require_lib
from harness.system.procfs import mask_to_cpus, read_thread


def lcore_thread(lcore: int, *, sample_us: int = 0, proc_root: str = "/proc") -> LcoreThread:
    """Read ``lcore``'s thread from inside (probe_lcore_affinity) and from outside (by its tid).

    A worker lcore must be idle (ProbeBusyError while a run is on it); the main lcore is read
    from the calling thread, which must be the EAL main thread (ProbePermissionError otherwise).
    """
    lib = require_lib()
    out = ffi.new("struct probe_thread_affinity *")
    check(lib.probe_lcore_affinity(lcore, sample_us, out), f"read lcore {lcore}'s thread affinity")
    if out.err:
        check(out.err, f"pthread_getaffinity_np on lcore {lcore}")
    tid = out.tid
    try:
        outside = frozenset(os.sched_getaffinity(tid))
    except OSError:
        outside = None
    try:
        status = read_thread(tid, proc_root=proc_root).cpus_allowed
    except (OSError, ValueError):
        status = None
    return LcoreThread(
        lcore=out.lcore_id, is_main=bool(out.is_main), role=ROLES.get(out.role, str(out.role)), tid=tid,
        name=ffi.string(out.name).decode(errors="replace"), seen_lcore=out.seen_lcore_id, cpu_now=out.cpu_now,
        cpus=mask_to_cpus(out.cpus), eal_cpus=mask_to_cpus(out.eal_cpus),
        eal_thread_cpus=mask_to_cpus(out.eal_thread_cpus), outside_cpus=outside, status_cpus=status,
        socket=out.socket_id, lcore_socket=out.lcore_socket_id, cpus_seen=mask_to_cpus(out.cpus_seen),
        samples=out.samples, migrations=out.migrations)


def lcore_threads(lcores: Iterable[int], *, sample_us: int = 0, proc_root: str = "/proc") -> dict[int, LcoreThread]:
    return {lc: lcore_thread(lc, sample_us=sample_us, proc_root=proc_root) for lc in lcores}


def pool_mem_sockets(pool) -> tuple[frozenset[int], int]:
    """NUMA sockets of the memory behind ``pool`` (a probe.Mempool), and chunks of unknown socket."""
    lib = require_lib()
    mask = ffi.new("uint64_t *")
    unknown = check(lib.probe_pool_mem_sockets(pool.handle, mask), f"memory sockets of pool {pool.name}")
    return mask_to_cpus([mask[0]]), unknown


@dataclass
class SpinStats:
    tid: int
    elapsed_s: float
    loops: int
    samples: int
    cpu_first: int
    cpu_last: int
    migrations: int
    cpus_seen: frozenset[int]
    running: bool


class Spin(Loop):
    """A busy loop on a worker lcore that polls nothing (harness/native/affinity.c)."""

    START, STATS, STOP, FREE = "probe_spin_start", "probe_spin_stats", "probe_spin_stop", "probe_spin_free"
    HANDLE, STATS_STRUCT, what = "probe_spin", "struct probe_spin_stats", "the spin loop"

    def __init__(self, lcore: int):
        self._launch(lcore, lcore)

    def stats(self) -> SpinStats:
        if self._final is not None:
            return self._final
        st = self._read_stats()
        return SpinStats(tid=st.tid, elapsed_s=(st.tsc_last - st.tsc_start) / st.tsc_hz if st.tsc_hz else 0.0,
                         loops=st.loops, samples=st.samples, cpu_first=st.cpu_first, cpu_last=st.cpu_last,
                         migrations=st.migrations, cpus_seen=mask_to_cpus(st.cpus_seen), running=bool(st.running))

    def stop(self) -> SpinStats:
        return super().stop()
