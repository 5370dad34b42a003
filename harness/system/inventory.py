"""What the host is: CPU, NUMA, kernel, boot options, hugepages (sysfs/proc root injectable).

A flat ``str -> str`` mapping, so it goes straight into ``record_testsuite_property``
and the report header. Values the host does not provide are empty strings.
"""
from __future__ import annotations

import os
from pathlib import Path

from harness.system.hugepages import read_pools

#: CPU flags that matter to DPDK (vector paths, 1G pages, a TSC usable as a clock).
RELEVANT_CPU_FLAGS = (
    "sse4_2", "avx2", "avx512f", "pdpe1gb", "constant_tsc", "nonstop_tsc", "tsc",
)

_CMDLINE_KEYS = ("isolcpus", "nohz_full", "rcu_nocbs")
_IOMMU_KEYS = ("intel_iommu", "amd_iommu", "iommu", "iommu.passthrough", "iommu.strict",
               "vfio.enable_unsafe_noiommu_mode")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _cpuinfo(proc_root) -> tuple[str, list[str]]:
    model, flags = "", []
    for line in _read(Path(proc_root) / "cpuinfo").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not model and key in ("model name", "Model", "cpu model", "Processor"):
            model = value
        elif not flags and key in ("flags", "Features"):
            flags = value.split()
        if model and flags:
            break
    return model, flags


def _cmdline(proc_root) -> dict[str, str]:
    params: dict[str, str] = {}
    for word in _read(Path(proc_root) / "cmdline").split():
        if word == "--":
            break  # what follows is for init, not the kernel
        key, _, value = word.partition("=")
        params[key] = value
    return params


def _hugepages_text(sys_root) -> str:
    parts = []
    for pool in read_pools(sys_root=sys_root):
        if pool.node is not None:
            continue
        text = f"{pool.size_kb}kB: {pool.total} total"
        if pool.total:
            text += f", {pool.free} free"
        parts.append(text)
    return "; ".join(parts)


#: Set by the emulated-NIC lab (harness/lab) in its guest, e.g. "igb (QEMU 10.0.2, tcg)".
LAB_ENV = "DPDK_HARNESS_LAB"


def emulated_nic(env=None) -> str:
    """What emulates the NICs under test ("" on a real host): the report marks such runs
    "emulated NIC — not a hardware qualification"."""
    return (os.environ if env is None else env).get(LAB_ENV, "").strip()


def host_inventory(sys_root="/sys", proc_root="/proc", env=None) -> dict[str, str]:
    model, flags = _cpuinfo(proc_root)
    present = set(flags)
    cmdline = _cmdline(proc_root)
    node_online = _read(Path(sys_root) / "devices/system/node/online")
    inv = {
        "cpu_model": model,
        "cpu_flags": " ".join(f for f in RELEVANT_CPU_FLAGS if f in present),
        "tsc_invariant": "yes" if {"constant_tsc", "nonstop_tsc"} <= present else "no",
        "cpus_online": _read(Path(sys_root) / "devices/system/cpu/online"),
        "numa_nodes": node_online or "0",
        "kernel": _read(Path(proc_root) / "sys/kernel/osrelease"),
    }
    for key in _CMDLINE_KEYS:
        inv[f"cmdline_{key}"] = cmdline.get(key, "")
    inv["cmdline_iommu"] = " ".join(
        f"{k}={cmdline[k]}" if cmdline[k] else k for k in _IOMMU_KEYS if k in cmdline
    )
    inv["kernel_cmdline"] = " ".join(_read(Path(proc_root) / "cmdline").split())
    inv["hugepages"] = _hugepages_text(sys_root)
    lab = emulated_nic(env)
    if lab:
        inv["emulated_nic"] = lab
    return inv


def online_cpus(sys_root="/sys") -> set[int]:
    """CPUs the kernel has online (``devices/system/cpu/online``, e.g. ``0-3,6``).

    Used instead of the calling thread's affinity: once EAL has booted, the main thread is
    pinned to the main lcore's CPU, and every process it starts inherits that mask, yet EAL
    in such a child still pins its lcores to any online CPU.
    """
    text = _read(Path(sys_root) / "devices/system/cpu/online")
    cpus: set[int] = set()
    for part in filter(None, text.replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus or set(range(os.cpu_count() or 1))
