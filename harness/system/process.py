"""Reading another process from outside, without touching it: identity (psutil), its EAL options,
its memory mappings and every thread's CPU time on the host (``/proc``, root injectable).

Used by the audit of a running DPDK application (``harness/audit``). Nothing here writes to a
process or signals it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.system.procfs import PF_KTHREAD, option_value

DEFAULT_PREFIX = "rte"   # EAL's --file-prefix when none is given
EAL_LIBRARY = "librte_eal"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: str
    cmdline: tuple[str, ...]
    exe: str
    create_time: float

    @property
    def command(self) -> str:
        return " ".join(self.cmdline) or f"[{self.name}]"


def read_process(pid: int) -> ProcessInfo:
    """The process as psutil sees it; raises ProcessLookupError when there is none."""
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            name, cmd, created = p.name(), tuple(p.cmdline()), p.create_time()
            try:
                exe = p.exe()
            except psutil.Error:
                exe = ""
    except psutil.NoSuchProcess:
        raise ProcessLookupError(pid) from None
    except psutil.ZombieProcess:
        raise ProcessLookupError(pid) from None
    return ProcessInfo(pid, name, cmd, exe, created)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def eal_args(cmdline: tuple[str, ...] | list[str]) -> list[str]:
    """The EAL part of a DPDK command line: after the program, up to ``--``."""
    args = list(cmdline[1:])
    return args[: args.index("--")] if "--" in args else args


def file_prefix(cmdline: tuple[str, ...] | list[str]) -> str:
    return option_value(eal_args(cmdline), "--file-prefix") or DEFAULT_PREFIX


def maps_text(pid: int, proc_root: str = "/proc") -> str:
    try:
        return (Path(proc_root) / str(pid) / "maps").read_text()
    except OSError:
        return ""


def links_eal(pid: int, proc_root: str = "/proc") -> bool:
    """The process has DPDK's EAL mapped (a shared-linkage DPDK application)."""
    return EAL_LIBRARY in maps_text(pid, proc_root)


def looks_like_dpdk(info: ProcessInfo, proc_root: str = "/proc") -> bool:
    """EAL is mapped, or the command line carries EAL options only DPDK applications take."""
    if links_eal(info.pid, proc_root):
        return True
    eal = eal_args(info.cmdline)
    return any(a.split("=", 1)[0] in ("--file-prefix", "--no-telemetry", "--in-memory", "--vdev", "--no-pci",
                                      "--main-lcore", "--lcores") for a in eal)


def hugepage_kb(pid: int, proc_root: str = "/proc") -> dict[int, int]:
    """``{page size kB: mapped kB}`` of the process's hugetlb mappings (``/proc/<pid>/smaps``)."""
    out: dict[int, int] = {}
    size = 0
    try:
        text = (Path(proc_root) / str(pid) / "smaps").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("Size:"):
            size = int(line.split()[1])
        elif line.startswith("KernelPageSize:"):
            page = int(line.split()[1])
            if page > 4:
                out[page] = out.get(page, 0) + size
    return out


def processes_with_prefix(prefix: str, proc_root: str = "/proc") -> list[ProcessInfo]:
    """Live DPDK processes whose EAL --file-prefix is ``prefix``."""
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            info = read_process(p.info["pid"])
        except (ProcessLookupError, psutil.Error):
            continue
        if file_prefix(info.cmdline) == prefix and looks_like_dpdk(info, proc_root):
            out.append(info)
    return sorted(out, key=lambda i: i.pid)


@dataclass(frozen=True)
class ThreadTime:
    """A thread of the host: CPU time so far and the CPU it last ran on (``/proc/<pid>/task/<tid>/stat``)."""

    pid: int
    tid: int
    name: str
    ticks: int
    last_cpu: int | None
    kernel: bool




def host_threads(proc_root: str = "/proc") -> dict[int, ThreadTime]:
    """``{tid: ThreadTime}`` of every thread on the host; threads that exit meanwhile are left out."""
    out: dict[int, ThreadTime] = {}
    root = Path(proc_root)
    try:
        pids = [d for d in os.listdir(root) if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        task = root / pid / "task"
        try:
            tids = os.listdir(task)
        except OSError:
            continue
        for tid in tids:
            try:
                text = (task / tid / "stat").read_text()
            except OSError:
                continue
            lp, rp = text.find("("), text.rfind(")")
            if lp < 0 or rp < 0:
                continue
            f = text[rp + 2:].split()
            try:
                ticks = int(f[11]) + int(f[12])             # utime + stime (fields 14, 15)
                last = int(f[36]) if len(f) > 36 else None  # processor (field 39)
                kernel = bool(int(f[6]) & PF_KTHREAD)       # flags (field 9)
            except (IndexError, ValueError):
                continue
            out[int(tid)] = ThreadTime(int(pid), int(tid), text[lp + 1:rp], ticks, last, kernel)
    return out
