"""Core pinning, isolation and NUMA placement: thread inventory and verdicts.

Three layers, in the order data flows:

* readers of ``/proc`` (root injectable, so unit tests run on a fake tree): a thread's allowed
  CPUs, context switches and last CPU; every process allowed on a set of CPUs;
* the probe face (needs the built probe and a booted EAL): :func:`lcore_thread` reads an lcore's
  thread from inside it (``harness/native/affinity.c``) and from outside (``sched_getaffinity``
  on its tid, ``/proc/self/task/<tid>/status``); :class:`Spin` keeps a worker busy;
  :func:`observe_under_load` loads every worker at once and watches where each one runs;
* verdicts: pure functions from what was observed to a list of one-line problems (empty = pass),
  each naming the lcore, its thread, the CPUs expected and measured, and what to change.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.profile import LcoreMap

#: involuntary context switches per second a busy worker may take. Measured on the 2-CPU CI VM
#: (kernel 6.18, no isolation), worker busy for 0.5 s: alone on its CPU 0-50/s on a quiet host and up
#: to ~220/s while other test runs compete for the CPUs; two busy lcores pinned to one CPU ~125/s each;
#: a worker sharing the main lcore's CPU 100-170/s; a thread on the worker's CPU that wakes every
#: 0.1 ms ~6000/s. Sharing between lcores is caught for certain by the pinning check, so the default
#: only catches heavy interference (wakeup storms: timers, threaded IRQs, ksoftirqd) and stays quiet
#: on busy CI hosts; a production profile on isolated cores should set a tight limit (0-1/s is
#: typical there) with ``eal.max_involuntary_ctx_switches_per_s`` (whose default is this reasoning's 1000/s).
PROFILE_KEY_CTX_SWITCHES = "max_involuntary_ctx_switches_per_s"

CPU_WORDS = 16  # PROBE_AFF_CPU_WORDS: CPU n is bit n % 64 of word n / 64
ROLES = {0: "rte", 1: "off", 2: "service", 3: "non-eal"}
PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags: a kernel thread
OUTSIDE_SAMPLE_S = 0.01  # how often /proc is read for where each worker last ran
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------- CPU lists


def parse_cpu_list(text: str, *, last_cpu: int | None = None) -> frozenset[int]:
    """Kernel CPU list syntax (``0-3,6``, ``1-7:2/4``; ``N`` = ``last_cpu``) -> CPU ids.

    Raises ValueError on anything else, so callers can say the text was not understood.
    """
    cpus: set[int] = set()
    for part in filter(None, text.strip().replace(" ", "").split(",")):
        rng, _, stride = part.partition(":")
        lo_s, dash, hi_s = rng.partition("-")
        lo = _cpu_id(lo_s, last_cpu)
        hi = _cpu_id(hi_s, last_cpu) if dash else lo
        if hi < lo:
            raise ValueError(f"descending range {part!r}")
        if stride:
            used, _, group = stride.partition("/")
            used_n, group_n = int(used), int(group)
            if group_n <= 0 or used_n <= 0:
                raise ValueError(f"bad stride {part!r}")
            cpus.update(c for c in range(lo, hi + 1) if (c - lo) % group_n < used_n)
        else:
            cpus.update(range(lo, hi + 1))
    return frozenset(cpus)


def _cpu_id(text: str, last_cpu: int | None) -> int:
    if text == "N":
        if last_cpu is None:
            raise ValueError("'N' (the last CPU) without a CPU count")
        return last_cpu
    return int(text)


def format_cpus(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``0-2,5``; the empty set -> ``none``."""
    ids = sorted(set(cpus))
    if not ids:
        return "none"
    out, start, prev = [], ids[0], ids[0]
    for c in ids[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(f"{start}-{prev}" if prev - start >= 2 else ",".join(str(x) for x in range(start, prev + 1)))
        if c is not None:
            start = prev = c
    return ",".join(out)


def cpus_text(cpus: Iterable[int]) -> str:
    """``CPU 1`` / ``CPUs 0,1`` for messages."""
    cpus = frozenset(cpus)
    return f"CPU{'s' if len(cpus) != 1 else ''} {format_cpus(cpus)}"


def mask_to_cpus(words: Sequence[int]) -> frozenset[int]:
    return frozenset(w * 64 + b for w, word in enumerate(words) for b in range(64) if word >> b & 1)


# ---------------------------------------------------------------- /proc readers


@dataclass(frozen=True)
class TaskInfo:
    """One thread (or process, for its main thread) as /proc shows it."""

    tid: int
    name: str                       # comm
    cpus_allowed: frozenset[int]    # Cpus_allowed_list
    voluntary: int                  # voluntary_ctxt_switches
    nonvoluntary: int               # nonvoluntary_ctxt_switches
    last_cpu: int | None = None     # stat field 39: the CPU it last ran on
    kernel_thread: bool = False     # stat flags has PF_KTHREAD
    state: str = ""                 # R, S, D ...
    cpu_ticks: int = 0              # stat utime + stime, in clock ticks (SC_CLK_TCK)


def _status_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _stat_fields(text: str) -> list[str]:
    """``/proc/.../stat`` after the ``(comm)`` field (which may hold spaces and parentheses).

    Index 0 is field 3 (state); field n is at index n - 3.
    """
    return text[text.rindex(")") + 2:].split() if ")" in text else []


def read_task(path: str | os.PathLike, tid: int | None = None) -> TaskInfo:
    """Read a task directory (``/proc/<pid>`` or ``/proc/<pid>/task/<tid>``).

    Raises OSError when it is gone, ValueError when its status cannot be understood.
    """
    base = Path(path)
    st = _status_fields((base / "status").read_text())
    try:
        cpus = parse_cpu_list(st["Cpus_allowed_list"])
        vol, nonvol = int(st.get("voluntary_ctxt_switches", 0)), int(st.get("nonvoluntary_ctxt_switches", 0))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{base / 'status'}: cannot read Cpus_allowed_list / ctxt switches ({exc})") from None
    last_cpu, kthread, ticks = None, False, 0
    try:
        fields = _stat_fields((base / "stat").read_text())
        if len(fields) > 39 - 3:
            last_cpu = int(fields[39 - 3])
        if len(fields) > 15 - 3:
            kthread = bool(int(fields[9 - 3]) & PF_KTHREAD)
            ticks = int(fields[14 - 3]) + int(fields[15 - 3])
    except (OSError, ValueError):
        pass
    return TaskInfo(tid=int(tid if tid is not None else st.get("Pid", base.name)), name=st.get("Name", ""),
                    cpus_allowed=cpus, voluntary=vol, nonvoluntary=nonvol, last_cpu=last_cpu,
                    kernel_thread=kthread, state=st.get("State", "")[:1], cpu_ticks=ticks)


def task_dir(tid: int, *, pid: int | str = "self", proc_root: str = "/proc") -> Path:
    return Path(proc_root) / str(pid) / "task" / str(tid)


def read_thread(tid: int, *, pid: int | str = "self", proc_root: str = "/proc") -> TaskInfo:
    return read_task(task_dir(tid, pid=pid, proc_root=proc_root), tid)


def process_threads(pid: int | str = "self", proc_root: str = "/proc") -> list[TaskInfo]:
    """Every thread of a process; threads that exit while being read are left out."""
    out = []
    base = Path(proc_root) / str(pid) / "task"
    for d in sorted(base.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1):
        if not d.name.isdigit():
            continue
        try:
            out.append(read_task(d, int(d.name)))
        except (OSError, ValueError):
            continue
    return out


@dataclass(frozen=True)
class ProcessesOnCpus:
    """Processes other than ours allowed to run on some CPUs."""

    cpus: frozenset[int]
    user: tuple[TaskInfo, ...]       # user-space processes allowed on any of the CPUs
    kernel: tuple[TaskInfo, ...]     # kernel threads allowed there (per-CPU ones are unavoidable)
    ran_there: tuple[TaskInfo, ...]  # user processes whose last CPU is one of the CPUs
    total: int                       # processes looked at

    def summary(self, limit: int = 12) -> str:
        names = sorted({p.name for p in self.user})
        shown = ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
        ran = sorted({f"{p.name}[{p.tid}]@{p.last_cpu}" for p in self.ran_there})
        return (f"{len(self.user)} user processes (of {self.total} processes) may run on {cpus_text(self.cpus)}"
                + (f": {shown}" if shown else "")
                + f"; {len(self.ran_there)} last ran there" + (f" ({', '.join(ran[:limit])})" if ran else "")
                + f"; {len(self.kernel)} kernel threads allowed there")


def processes_on(cpus: Iterable[int], *, proc_root: str = "/proc", exclude: Iterable[int] = ()) -> ProcessesOnCpus:
    """Processes (their main thread's affinity) allowed on any of ``cpus``, as psutil's
    ``process_iter`` / ``cpu_affinity`` would list them, read from an injectable proc root."""
    want, skip = frozenset(cpus), set(exclude)
    user, kernel, ran, total = [], [], [], 0
    for d in Path(proc_root).iterdir():
        if not d.name.isdigit() or int(d.name) in skip:
            continue
        try:
            t = read_task(d, int(d.name))
        except (OSError, ValueError):
            continue
        total += 1
        if not t.cpus_allowed & want:
            continue
        (kernel if t.kernel_thread else user).append(t)
        if not t.kernel_thread and t.last_cpu in want:
            ran.append(t)
    key = lambda t: t.tid  # noqa: E731
    return ProcessesOnCpus(want, tuple(sorted(user, key=key)), tuple(sorted(kernel, key=key)),
                           tuple(sorted(ran, key=key)), total)


# ---------------------------------------------------------------- lcore threads


@dataclass(frozen=True)
class LcoreThread:
    """An EAL lcore's thread: read from inside (the probe) and from outside (the kernel)."""

    lcore: int
    is_main: bool
    role: str
    tid: int
    name: str
    seen_lcore: int                      # rte_lcore_id() inside the thread
    cpu_now: int                         # sched_getcpu() inside
    cpus: frozenset[int]                 # pthread_getaffinity_np() inside
    eal_cpus: frozenset[int]             # rte_lcore_cpuset(): EAL's lcore config
    eal_thread_cpus: frozenset[int]      # rte_thread_get_affinity(): EAL's record for the thread
    outside_cpus: frozenset[int] | None  # os.sched_getaffinity(tid)
    status_cpus: frozenset[int] | None   # /proc/self/task/<tid>/status Cpus_allowed_list
    socket: int = -1                     # rte_socket_id() inside
    lcore_socket: int = -1               # rte_lcore_to_socket_id()
    cpus_seen: frozenset[int] = frozenset()
    samples: int = 0
    migrations: int = 0

    @property
    def label(self) -> str:
        kind = "main lcore" if self.is_main else ("service lcore" if self.role == "service" else "lcore")
        return f"{kind} {self.lcore} (thread {self.name or '?'!r}, tid {self.tid})"

    def views(self) -> dict[str, frozenset[int] | None]:
        """Every reading of where the thread may run, by who read it."""
        return {
            "pthread_getaffinity_np in the thread": self.cpus,
            "sched_getaffinity(tid) from outside": self.outside_cpus,
            f"/proc/self/task/{self.tid}/status": self.status_cpus,
            "rte_thread_get_affinity": self.eal_thread_cpus,
            "rte_lcore_cpuset": self.eal_cpus,
        }


def _lib():
    from harness import probe

    return probe.require_lib(), probe.ffi, probe.check


def lcore_thread(lcore: int, *, sample_us: int = 0, proc_root: str = "/proc") -> LcoreThread:
    """Read ``lcore``'s thread from inside (probe_lcore_affinity) and from outside (by its tid).

    A worker lcore must be idle (ProbeBusyError while a run is on it); the main lcore is read
    from the calling thread, which must be the EAL main thread (ProbePermissionError otherwise).
    """
    lib, ffi, check = _lib()
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
    lib, ffi, check = _lib()
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


class Spin:
    """A busy loop on a worker lcore that polls nothing (harness/native/affinity.c)."""

    def __init__(self, lcore: int):
        from harness import probe

        lib, ffi, check = _lib()
        out = ffi.new("probe_spin **")
        check(lib.probe_spin_start(lcore, out), f"launch a spin loop on lcore {lcore}")
        self.lcore, self._h, self._final = lcore, out[0], None
        # probe.stop_all_runs() (session teardown, Ctrl-C) stops whatever is in this set by
        # calling .stop(): a loop left running would hang rte_eal_cleanup
        probe.register_loop(self)

    def stats(self) -> SpinStats:
        if self._final is not None:
            return self._final
        lib, ffi, check = _lib()
        st = ffi.new("struct probe_spin_stats *")
        check(lib.probe_spin_stats(self._h, st), f"spin stats on lcore {self.lcore}")
        return SpinStats(tid=st.tid, elapsed_s=(st.tsc_last - st.tsc_start) / st.tsc_hz if st.tsc_hz else 0.0,
                         loops=st.loops, samples=st.samples, cpu_first=st.cpu_first, cpu_last=st.cpu_last,
                         migrations=st.migrations, cpus_seen=mask_to_cpus(st.cpus_seen), running=bool(st.running))

    def stop(self) -> SpinStats:
        if self._final is None:
            from harness import probe

            lib, ffi, check = _lib()
            check(lib.probe_spin_stop(self._h), f"stop the spin loop on lcore {self.lcore}")
            self._final = self.stats()
            check(lib.probe_spin_free(self._h), "spin free")
            self._h = ffi.NULL
            probe.unregister_loop(self)
        return self._final

    def __enter__(self) -> "Spin":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- observation under load


@dataclass
class WorkerLoad:
    """One worker over a loaded window: where it ran and how often it was preempted."""

    lcore: int
    tid: int
    label: str
    expected_cpus: frozenset[int]
    load: str                               # "traffic" or "spin"
    seconds: float
    nonvoluntary: int                       # involuntary context switches over the window
    voluntary: int
    cpus_seen_inside: frozenset[int]        # sched_getcpu() in its loop
    cpus_seen_outside: frozenset[int]       # /proc/self/task/<tid>/stat last CPU, sampled
    outside_samples: int
    cpu_seconds: float = 0.0                # utime + stime over the window

    @property
    def nonvoluntary_per_s(self) -> float:
        return self.nonvoluntary / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """Share of the window the busy worker actually ran (1.0 alone; ~0.5 sharing a CPU with another).
        utime + stime count clock ticks (10 ms), so the share is capped at 1.0."""
        return min(1.0, self.cpu_seconds / self.seconds) if self.seconds > 0 else 0.0


@dataclass
class LoadSample:
    seconds: float
    workers: list[WorkerLoad]
    run_stats: object | None = None         # probe.RunStats of the traffic worker
    traffic_lcore: int | None = None
    others: list[TaskInfo] = field(default_factory=list)   # other threads of the process, at the end


def observe_under_load(threads: Mapping[int, LcoreThread], traffic_lcore: int | None, tasks, seconds: float, *,
                       pool=None, burst: int = 32, flows: int = 1, proc_root: str = "/proc") -> LoadSample:
    """Load every worker at once for ``seconds`` and watch each one.

    ``traffic_lcore`` runs ``tasks`` (a probe.Run, so busy-poll figures come from it); every other
    worker runs a :class:`Spin`. Involuntary context switches come from each thread's
    ``/proc/self/task/<tid>/status`` before and after; where each ran, from inside (sched_getcpu
    in the loop) and from outside (``stat`` field 39, read every 10 ms).
    """
    from harness import probe

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


# ---------------------------------------------------------------- verdicts


def _one_per_cpu(lcores: Sequence[int], cpus: Sequence[int]) -> str:
    return ",".join(f"{lc}@{cpu}" for lc, cpu in zip(lcores, cpus))


def suggest_lcores(lcores: Sequence[int], cpus: Iterable[int]) -> str:
    """An ``eal.lcores`` fix that gives each lcore a CPU of its own, or drops lcores to fit."""
    cpus_l = sorted(set(cpus))
    lcores = sorted(set(lcores))
    if not cpus_l:
        return "give each lcore a CPU of its own in eal.lcores"
    if len(cpus_l) >= len(lcores):
        return f'give each lcore a CPU of its own, e.g. eal.lcores = "{_one_per_cpu(lcores, cpus_l)}"'
    text = _one_per_cpu(lcores, cpus_l)
    return (f"this host has {len(cpus_l)} CPU{'s' if len(cpus_l) != 1 else ''} for {len(lcores)} lcores: "
            f'use fewer lcores, one per CPU, e.g. eal.lcores = "{text}"')


def pinning_problems(expected: Sequence[LcoreMap], threads: Mapping[int, LcoreThread],
                     host_cpus: Iterable[int] = ()) -> list[str]:
    """Each lcore's thread may run on exactly one CPU, the one the profile maps it to, and every
    reading of that (inside, outside, EAL's) agrees. One line per problem."""
    problems: list[str] = []
    lcores = [m.lcore for m in expected]
    fix = suggest_lcores(lcores, host_cpus or set().union(*(m.cpus for m in expected)))
    for m in expected:
        t = threads.get(m.lcore)
        want = cpus_text(m.cpus)
        if t is None:
            problems.append(f"lcore {m.lcore}: the profile maps it to {want} but EAL runs no such lcore; "
                            "check eal.lcores and eal.extra_args")
            continue
        if t.seen_lcore != m.lcore:
            problems.append(f"{t.label}: the thread launched for lcore {m.lcore} reports rte_lcore_id() "
                            f"{t.seen_lcore}; EAL's lcore table is inconsistent")
        views = {k: v for k, v in t.views().items() if v is not None}
        if len(set(views.values())) > 1:
            shown = "; ".join(f"{k}: {format_cpus(v)}" for k, v in views.items())
            problems.append(f"{t.label}: the readings of its CPU affinity disagree ({shown}); "
                            "something re-pinned the thread after EAL started (taskset, cgroup cpuset, "
                            "rte_thread_set_affinity)")
        if len(t.cpus) != 1:
            problems.append(f"{t.label}: may run on {cpus_text(t.cpus)} ({len(t.cpus)} CPUs); expected exactly "
                            f"one CPU (profile maps it to {want}); {fix}")
        elif t.cpus != m.cpus:
            problems.append(f"{t.label}: pinned to {cpus_text(t.cpus)}, expected {want} as the profile maps it; "
                            "check that nothing re-pins EAL threads (taskset, cgroup cpuset)")
    for lc, t in sorted(threads.items()):
        if lc not in lcores and len(t.cpus) != 1:  # e.g. a service lcore from eal.extra_args
            problems.append(f"{t.label}: not in eal.lcores and may run on {cpus_text(t.cpus)}; expected exactly "
                            "one CPU; pin it to one CPU of its own")
    return problems


def sharing_problems(threads: Mapping[int, LcoreThread], host_cpus: Iterable[int] = ()) -> list[str]:
    """No two lcores' threads may be allowed on the same CPU."""
    problems: list[str] = []
    ts = sorted(threads.values(), key=lambda t: t.lcore)
    fix = suggest_lcores([t.lcore for t in ts], host_cpus or set().union(*(t.cpus for t in ts)))
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            shared = a.cpus & b.cpus
            if shared:
                where = (f"are both pinned to {cpus_text(shared)}" if a.cpus == b.cpus == shared else
                         f"share {cpus_text(shared)} (one may run on {cpus_text(a.cpus)}, the other on "
                         f"{cpus_text(b.cpus)})")
                problems.append(f"{a.label} and {b.label} {where}; expected each lcore alone on its own CPU; {fix}")
    return problems


def observed_cpu_problems(workers: Sequence[WorkerLoad]) -> list[str]:
    """Each worker, loaded, was seen running only on the CPU it is pinned to."""
    problems = []
    for w in workers:
        for how, seen in (("inside its loop (sched_getcpu)", w.cpus_seen_inside),
                          (f"from outside (/proc/self/task/{w.tid}/stat, {w.outside_samples} samples)",
                           w.cpus_seen_outside)):
            stray = seen - w.expected_cpus
            if stray:
                problems.append(f"{w.label}: seen running on {cpus_text(seen)} {how} over {w.seconds:.2f} s, "
                                f"expected only {cpus_text(w.expected_cpus)}; pin each lcore to one CPU in "
                                "eal.lcores")
    return problems


def ctx_switch_problems(workers: Sequence[WorkerLoad], max_per_s: float) -> list[str]:
    problems = []
    for w in workers:
        rate = w.nonvoluntary_per_s
        if rate > max_per_s:
            problems.append(
                f"{w.label} on {cpus_text(w.expected_cpus)}: {w.nonvoluntary} involuntary context switches in "
                f"{w.seconds:.2f} s ({rate:,.0f}/s) while busy ({w.load}), expected at most {max_per_s:,.0f}/s; "
                "something else runs on that CPU: give the lcore a CPU no other lcore or process uses "
                "(isolcpus/nohz_full, irqaffinity, cgroup cpusets), or raise "
                f"eal.{PROFILE_KEY_CTX_SWITCHES}")
    return problems


def max_ctx_switches_per_s(profile) -> float:
    """The profile's limit, ``eal.max_involuntary_ctx_switches_per_s`` (default 1000/s, see above)."""
    return float(profile.eal.max_involuntary_ctx_switches_per_s)


def threads_on(cpus: Iterable[int], threads: Iterable[TaskInfo]) -> list[TaskInfo]:
    """Threads allowed on any of ``cpus``."""
    want = frozenset(cpus)
    return [t for t in threads if t.cpus_allowed & want]


# ---------------------------------------------------------------- isolation (advice, never a verdict)


ISOLATION_KEYS = ("isolcpus", "nohz_full", "rcu_nocbs")
_ISOLCPUS_FLAGS = {"nohz", "domain", "managed_irq"}


@dataclass(frozen=True)
class IsolationState:
    cpus: frozenset[int]                          # the data-plane CPUs judged
    covered: Mapping[str, frozenset[int] | None]  # per kernel option: data-plane CPUs it covers (None: unreadable)
    raw: Mapping[str, str]
    advice: tuple[str, ...]

    @property
    def isolated(self) -> frozenset[int]:
        """Data-plane CPUs every option covers."""
        out = set(self.cpus)
        for v in self.covered.values():
            out &= v or set()
        return frozenset(out)


def parse_isolation_option(key: str, value: str, last_cpu: int | None = None) -> frozenset[int]:
    """CPUs a kernel isolation option names (``isolcpus=nohz,domain,1-3`` -> {1, 2, 3})."""
    if value == "all":
        if last_cpu is None:
            raise ValueError(f"{key}=all without a CPU count")
        return frozenset(range(last_cpu + 1))
    if key == "isolcpus":
        parts = [p for p in value.split(",") if p not in _ISOLCPUS_FLAGS]
        value = ",".join(parts)
    return parse_cpu_list(value, last_cpu=last_cpu)


def isolation_state(inventory: Mapping[str, str], data_cpus: Iterable[int], *,
                    last_cpu: int | None = None) -> IsolationState:
    """What the kernel command line does for the data-plane CPUs, with advice (never a failure:
    a VM or a CI runner usually has no isolation at all)."""
    cpus = frozenset(data_cpus)
    covered: dict[str, frozenset[int] | None] = {}
    raw: dict[str, str] = {}
    advice: list[str] = []
    for key in ISOLATION_KEYS:
        value = inventory.get(f"cmdline_{key}", "")
        raw[key] = value
        if not value:  # not on the command line (the inventory cannot tell a bare "rcu_nocbs" apart)
            covered[key] = frozenset()
            continue
        try:
            covered[key] = parse_isolation_option(key, value, last_cpu) & cpus
        except ValueError:
            covered[key] = None
            advice.append(f"{key}={value}: not understood; check the kernel command line")
    missing = {k: cpus - (v or frozenset()) for k, v in covered.items()}
    cpu_list = format_cpus(cpus)
    if cpus and not any(raw.values()):
        advice.append(f"no CPU isolation on this host: the scheduler, the timer tick and RCU callbacks share the "
                      f"data-plane {cpus_text(cpus)} with everything else; for a deployment add "
                      f"isolcpus={cpu_list} nohz_full={cpu_list} rcu_nocbs={cpu_list} (and irqaffinity= the other "
                      "CPUs) to the kernel command line")
    else:
        for key in ISOLATION_KEYS:
            if missing[key] and covered[key] is not None:
                advice.append(f"{key} does not cover data-plane {cpus_text(missing[key])} "
                              f"({key}={raw[key] or 'not set'}); add them to {key}=")
    return IsolationState(cpus=cpus, covered=covered, raw=raw, advice=tuple(advice))


# ---------------------------------------------------------------- NUMA


SOCKET_ANY = -1


def numa_problems(ports: Sequence[tuple[str, int]], lcore_sockets: Mapping[int, int], pool_name: str,
                  pool_sockets: Iterable[int]) -> tuple[list[str], list[str]]:
    """(problems, unknowns): each port's socket must equal its polling lcores' socket and the
    socket of its mempool's memory. A port that reports no socket (SOCKET_ID_ANY, e.g. a vdev)
    cannot be judged: it goes to ``unknowns``."""
    problems, unknowns = [], []
    pool_sockets = frozenset(pool_sockets)
    for name, sock in ports:
        if sock == SOCKET_ANY or sock is None:
            unknowns.append(f"port {name} reports no NUMA socket (SOCKET_ID_ANY)")
            continue
        for lc, ls in sorted(lcore_sockets.items()):
            if ls != sock:
                problems.append(f"port {name} is on socket {sock} but its polling lcore {lc} is on socket {ls}; "
                                f"map the polling lcore to a CPU of socket {sock} in eal.lcores")
        if not pool_sockets:
            unknowns.append(f"pool {pool_name}: the socket of its memory is unknown")
        elif pool_sockets != {sock}:
            problems.append(f"port {name} is on socket {sock} but pool {pool_name}'s memory is on socket "
                            f"{format_cpus(pool_sockets)}; set mempool.socket = {sock} (or -1 for the ports' "
                            "socket) and give that socket hugepages")
    return problems, unknowns


# ---------------------------------------------------------------- busy-poll efficiency


@dataclass(frozen=True)
class BusyPoll:
    lcore: int
    seconds: float
    cycles: int
    rx_pkts: int
    tx_pkts: int
    polls: int
    empty_polls: int
    loops: int

    @property
    def cycles_per_pkt(self) -> float | None:
        """TSC cycles of the loop per packet received (None when none was)."""
        return self.cycles / self.rx_pkts if self.rx_pkts else None

    @property
    def empty_poll_share(self) -> float | None:
        return self.empty_polls / self.polls if self.polls else None


def busy_poll(lcore: int, stats) -> BusyPoll:
    """Busy-poll figures from a probe.RunStats (tsc, rx_polls, rx_empty_polls, rx_pkts)."""
    cycles = int(round(stats.elapsed_s * stats.tsc_hz))
    return BusyPoll(lcore=lcore, seconds=stats.elapsed_s, cycles=cycles, rx_pkts=stats.total("rx_pkts"),
                    tx_pkts=stats.total("tx_pkts"), polls=stats.total("rx_polls"),
                    empty_polls=stats.total("rx_empty_polls"), loops=stats.loops)
