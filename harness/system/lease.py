"""CPU lease: a run holds its data-plane CPUs, so two runs never busy-poll the same CPU.

A lease on CPU ``n`` is an exclusive ``flock`` on the sysfs directory ``/sys/devices/system/cpu/cpu<n>``
(the hugepage boot lock's trick): nothing is created, nothing is left behind, and the kernel drops the
lock when the holder dies, even by SIGKILL. The holder's pid is read from ``/proc/locks``.

A second run asking for a held CPU waits up to ``timeout_s`` (printing one line once), then refuses
with one line: "CPU 1 is in use by dpdk-harness run PID 1234; use --dpdk-lcores 0@0,1@0 ...".
A harness run started from inside the run holding the lease (a nested run, e.g. a mutation test's
child pytest) shares its parent's lease instead of waiting for it.
"""
from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from harness.errors import UsageError

DEFAULT_TIMEOUT_S = 300.0


def _cpu_dir(cpu: int, sys_root) -> Path:
    return Path(sys_root) / "devices/system/cpu" / f"cpu{cpu}"


def holder(path: Path, proc_root="/proc") -> int | None:
    """The pid holding an flock on ``path``, from ``/proc/locks``; None when nobody (or unknown)."""
    try:
        st = os.stat(path)
        text = (Path(proc_root) / "locks").read_text()
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or f[1] != "FLOCK":  # "N: -> FLOCK ..." lines are waiters, not holders
            continue
        if f[5] == want:
            try:
                return int(f[4])
            except ValueError:
                return None
    return None


def _ancestors() -> set[int]:
    pids, pid = set(), os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


class CpuLease:
    """Exclusive leases on a set of CPUs; ``release()`` (or process exit) gives them back."""

    def __init__(self, cpus: Iterable[int], *, sys_root="/sys", proc_root="/proc",
                 timeout_s: float = DEFAULT_TIMEOUT_S, suggest: Callable[[set[int]], str] | None = None,
                 say: Callable[[str], None] | None = None):
        self.cpus = sorted(set(cpus))
        self.sys_root, self.proc_root = sys_root, proc_root
        self.timeout_s = timeout_s
        self.suggest = suggest
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self._fds: dict[int, int] = {}
        self.shared: dict[int, int] = {}  # cpu -> ancestor pid whose lease this nested run shares

    def acquire(self) -> "CpuLease":
        deadline = time.monotonic() + self.timeout_s
        said = False
        ancestors = _ancestors()
        for cpu in self.cpus:
            path = _cpu_dir(cpu, self.sys_root)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue  # no such CPU directory (fake trees): the preflight judged the CPUs already
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._fds[cpu] = fd
                    break
                except BlockingIOError:
                    pid = holder(path, self.proc_root)
                    if pid is not None and pid in ancestors:
                        os.close(fd)
                        self.shared[cpu] = pid
                        break
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        self.release()
                        raise UsageError(self._busy(cpu, pid)) from None
                    if not said:
                        self.say(f"dpdk-harness: waiting up to {self.timeout_s:.0f} s for CPU {cpu}, in use by "
                                 f"dpdk-harness run PID {pid if pid is not None else '?'}")
                        said = True
                    time.sleep(0.2)
        return self

    def _busy(self, cpu: int, pid: int | None) -> str:
        who = f"dpdk-harness run PID {pid}" if pid is not None else "another dpdk-harness run"
        held = {c for c in range(os.cpu_count() or 1) if c not in self.cpus and self._held_by_other(c)}
        hint = self.suggest(held | {cpu}) if self.suggest else ""
        waited = f" (waited {self.timeout_s:.0f} s)" if self.timeout_s > 0 else ""
        fix = f"use --dpdk-lcores {hint}" if hint else "wait for that run to finish or stop it"
        return (f"CPU {cpu} is in use by {who}{waited}; {fix}, or raise --dpdk-cpu-wait "
                "(--dpdk-share-cpus shares it: rates then say little)")

    def _held_by_other(self, cpu: int) -> bool:
        """Held by a run that is neither this one nor one this run is nested in (whose CPUs it shares)."""
        pid = holder(_cpu_dir(cpu, self.sys_root), self.proc_root)
        return pid is not None and pid != os.getpid() and pid not in _ancestors()

    def release(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    @property
    def held(self) -> list[int]:
        return sorted(self._fds)
