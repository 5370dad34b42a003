"""Readers of ``/proc`` (root injectable, so unit tests run on a fake tree) and the kernel's CPU-list
format: a thread's allowed CPUs, context switches and last CPU; every process allowed on a set of CPUs.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags: a kernel thread


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
    user: list[TaskInfo] = []
    kernel: list[TaskInfo] = []
    ran, total = [], 0
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


# ---------------------------------------------------------------- waiting for a CPU


def threads_run_delay_s(pid: int | str = "self", *, name_prefix: str | tuple[str, ...] | None = None,
                        proc_root: str = "/proc") -> float:
    """Seconds the threads of ``pid`` (those whose name starts with ``name_prefix``, or one of them) have spent runnable
    but waiting for a CPU: the ``run_delay`` of /proc/<pid>/task/*/schedstat. Sampled before and after a
    run, the difference says whether (and how long) a busy-polling lcore was preempted."""
    base = os.path.join(proc_root, str(pid), "task")
    total = 0
    try:
        tids = os.listdir(base)
    except OSError:
        return 0.0
    for tid in tids:
        try:
            if name_prefix is not None:
                with open(os.path.join(base, tid, "comm")) as fh:
                    if not fh.read().startswith(name_prefix):
                        continue
            with open(os.path.join(base, tid, "schedstat")) as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


#: names EAL gives its worker lcore threads: lcore-worker-N (<= 21.11), rte-worker-N (22.11), dpdk-worker<N> (23.11+)
LCORE_WORKER_NAMES = ("lcore-worker-", "rte-worker-", "dpdk-worker")
_WORKER_NAME = re.compile("^(?:" + "|".join(re.escape(n) for n in LCORE_WORKER_NAMES) + r")(\d+)$")


def worker_lcore_of(thread_name: str) -> int | None:
    """The lcore id EAL put in a worker thread's name (:data:`LCORE_WORKER_NAMES`), or None for any other thread."""
    m = _WORKER_NAME.match(thread_name)
    return int(m.group(1)) if m else None


def lcores_waited_s() -> float:
    """Seconds this process's worker lcores (:data:`LCORE_WORKER_NAMES`) have waited for a CPU so far."""
    return threads_run_delay_s("self", name_prefix=LCORE_WORKER_NAMES)


def option_value(args: tuple[str, ...] | list[str], *names: str) -> str | None:
    """The value of the last ``--name value`` / ``--name=value`` / ``-xvalue`` among ``args``."""
    value = None
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                value = args[i + 1]
            elif n.startswith("--") and a.startswith(n + "="):
                value = a[len(n) + 1:]
            elif not n.startswith("--") and a.startswith(n) and len(a) > len(n) and not a.startswith("--"):
                value = a[len(n):]
    return value
