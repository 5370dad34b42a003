"""Observation under load: every worker loaded at once, watched from inside and from /proc.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

from harness import probe
from harness.affinity.model import LcoreThread, LoadSample, WorkerLoad
from harness.affinity.native import Spin, SpinStats
from harness.system.procfs import CLK_TCK, process_threads, read_thread

OUTSIDE_SAMPLE_S = 0.01  # how often /proc is read for where each worker last ran


def observe_under_load(threads: Mapping[int, LcoreThread], traffic_lcore: int | None, tasks, seconds: float, *,
                       pool=None, burst: int | None = None, flows: int = 1, proc_root: str = "/proc") -> LoadSample:
    """Load every worker at once for ``seconds`` and watch each one.

    ``traffic_lcore`` runs ``tasks`` (a probe.Run, so busy-poll figures come from it); every other
    worker runs a :class:`Spin`. Involuntary context switches come from each thread's
    ``/proc/self/task/<tid>/status`` before and after; where each ran, from inside (sched_getcpu
    in the loop) and from outside (``stat`` field 39, read every 10 ms).
    """

    workers = [t for t in threads.values() if not t.is_main]
    loops: dict[int, object] = {}
    run = None
    try:
        for t in workers:
            if t.lcore == traffic_lcore and tasks:
                run = probe.Run(t.lcore, tasks, pool=pool, burst=burst, flows=flows)
                loops[t.lcore] = run
            else:
                loops[t.lcore] = Spin(t.lcore)
        before = {t.lcore: read_thread(t.tid, proc_root=proc_root) for t in workers}
        t0 = time.monotonic()
        seen: dict[int, set[int]] = {t.lcore: set() for t in workers}
        n_samples = 0
        while True:
            for t in workers:
                try:
                    cpu = read_thread(t.tid, proc_root=proc_root).last_cpu
                except (OSError, ValueError):
                    cpu = None
                if cpu is not None:
                    seen[t.lcore].add(cpu)
            n_samples += 1
            if time.monotonic() - t0 >= seconds:
                break
            time.sleep(OUTSIDE_SAMPLE_S)
        after = {t.lcore: read_thread(t.tid, proc_root=proc_root) for t in workers}
        elapsed = time.monotonic() - t0
    finally:
        finals, errors = {}, []
        for lc, loop in loops.items():  # stop every loop, even when one stop fails
            try:
                finals[lc] = loop.stop()
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the others are stopped
                errors.append(exc)
        if errors:
            raise errors[0]
    out = []
    for t in workers:
        final = finals[t.lcore]
        if isinstance(final, SpinStats):
            inside, load = final.cpus_seen, "spin"
        else:
            inside, load = frozenset({final.cpu_first, final.cpu_last}), "traffic"
        out.append(WorkerLoad(
            lcore=t.lcore, tid=t.tid, label=t.label, expected_cpus=t.cpus, load=load, seconds=elapsed,
            nonvoluntary=after[t.lcore].nonvoluntary - before[t.lcore].nonvoluntary,
            voluntary=after[t.lcore].voluntary - before[t.lcore].voluntary,
            cpus_seen_inside=inside, cpus_seen_outside=frozenset(seen[t.lcore]), outside_samples=n_samples,
            cpu_seconds=(after[t.lcore].cpu_ticks - before[t.lcore].cpu_ticks) / CLK_TCK))
    lcore_tids = {t.tid for t in threads.values()}
    others = [x for x in process_threads(proc_root=proc_root) if x.tid not in lcore_tids]
    return LoadSample(seconds=elapsed, workers=out, run_stats=finals.get(traffic_lcore) if run else None,
                      traffic_lcore=traffic_lcore if run else None, others=others)
