"""Hugepage pools and hugetlbfs mounts, after dpdk-hugepages.py (sysfs/proc root injectable).

The rule is dpdk-hugepages' ``try_reserve_huge_pages``: write, read back, and raise if the
kernel gave less. Every write is journalled first, and a short grant is rolled back at once.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HostError
from harness.system.journal import DEFAULT_STATE_DIR, register_undo, write_sysfs

_POOL_RE = re.compile(r"^hugepages-(\d+)kB$")


@dataclass(frozen=True)
class PagePool:
    size_kb: int
    node: int | None  # None: the global pool (/sys/kernel/mm/hugepages)
    total: int
    free: int


def size_text(size_kb: int) -> str:
    """2048 -> '2M', 1048576 -> '1G', 64 -> '64K' (the kernel's hugepagesz= spelling)."""
    for unit, kb in (("G", 1 << 20), ("M", 1 << 10)):
        if size_kb % kb == 0:
            return f"{size_kb // kb}{unit}"
    return f"{size_kb}K"


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _global_dir(sys_root) -> Path:
    return Path(sys_root) / "kernel/mm/hugepages"


def _node_base(sys_root) -> Path:
    return Path(sys_root) / "devices/system/node"


def _pools_in(d: Path, node: int | None) -> list[PagePool]:
    pools = []
    if not d.is_dir():
        return pools
    for entry in d.iterdir():
        m = _POOL_RE.match(entry.name)
        if not m:
            continue
        try:
            total = _read_int(entry / "nr_hugepages")
            free = _read_int(entry / "free_hugepages")
        except (OSError, ValueError):
            continue
        pools.append(PagePool(int(m.group(1)), node, total, free))
    return pools


def read_pools(sys_root="/sys") -> list[PagePool]:
    """The global pools, then the per-NUMA-node pools, each sorted by page size."""
    pools = sorted(_pools_in(_global_dir(sys_root), None), key=lambda p: p.size_kb)
    nodes = []
    base = _node_base(sys_root)
    if base.is_dir():
        for entry in base.iterdir():
            if re.fullmatch(r"node\d+", entry.name):
                nodes.extend(_pools_in(entry / "hugepages", int(entry.name[4:])))
    return pools + sorted(nodes, key=lambda p: (p.node, p.size_kb))


def _pool_dir(size_kb: int, node: int | None, sys_root) -> Path:
    sizes = sorted(p.size_kb for p in _pools_in(_global_dir(sys_root), None))
    if size_kb not in sizes:
        supported = ", ".join(f"{s}kB" for s in sizes) or "none"
        raise HostError(
            f"this kernel has no {size_kb}kB hugepages (supported: {supported}); "
            "set the hugepage size in the profile to one of those"
        )
    if node is None:
        return _global_dir(sys_root) / f"hugepages-{size_kb}kB"
    d = _node_base(sys_root) / f"node{node}" / "hugepages" / f"hugepages-{size_kb}kB"
    if not d.is_dir():
        nodes = sorted(
            int(e.name[4:]) for e in _node_base(sys_root).glob("node*") if e.name[4:].isdigit()
        ) if _node_base(sys_root).is_dir() else []
        raise HostError(
            f"NUMA node {node} has no {size_kb}kB hugepage pool (nodes: "
            f"{', '.join(map(str, nodes)) or 'none'}); use one of those nodes in the profile"
        )
    return d


def ensure_free(
    journal,
    size_kb: int,
    pages: int,
    node: int | None = None,
    sys_root="/sys",
    kernel: Callable[[Path, str], None] | None = None,
) -> PagePool:
    """Make at least ``pages`` free pages of ``size_kb`` available (globally or on ``node``).

    Grows ``nr_hugepages`` by the deficit, journalled first; reads it back; if the kernel
    gave less, writes the previous value back and raises :class:`HostError`.
    ``kernel(path, value)`` performs the sysfs write (tests pass a fake kernel).
    """
    write = kernel or write_sysfs
    d = _pool_dir(size_kb, node, sys_root)
    nr_path = d / "nr_hugepages"
    total, free = _read_int(nr_path), _read_int(d / "free_hugepages")
    if free >= pages:
        return PagePool(size_kb, node, total, free)

    want = total + (pages - free)
    where = "" if node is None else f" on node {node}"
    # journal what *this run* adds, not the absolute count: overlapping runs each give back
    # their own pages instead of writing back a stale total over each other's reservation
    change = journal.record("hugepages_add", path=str(nr_path), previous=str(total), added=want - total)
    try:
        write(nr_path, str(want))
    except OSError as err:
        journal.forget(change)
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise HostError(
                f"cannot write {nr_path} ({err.strerror or 'permission denied'}); run as root, "
                f"pre-reserve with `echo {want} > {nr_path}`, or set eal.hugepages = false "
                "in the profile"
            ) from err
        raise HostError(
            f"writing {want} to {nr_path} failed ({err.strerror or err}); "
            f"pre-reserve with `echo {want} > {nr_path}` or lower eal.memory_mb in the profile"
        ) from err

    got, got_free = _read_int(nr_path), _read_int(d / "free_hugepages")
    if got >= want and got_free >= pages:
        return PagePool(size_kb, node, got, got_free)

    # the kernel gave less: put the pool back as it was
    try:
        write(nr_path, str(total))
    except OSError:
        pass  # the record stays in the journal and is retried at exit / by restore
    else:
        journal.forget(change)
    raise HostError(
        f"asked the kernel for {want} x {size_kb}kB hugepages{where}, got {got} "
        f"({got_free} free, {pages} needed); free memory or reboot with "
        f"hugepagesz={size_text(size_kb)} hugepages={want}, or lower eal.memory_mb in the profile"
    )


def _hugepages_scope(data: dict, sc) -> str | None:
    rel = sc.under(str(data.get("path", "")), sc.sys_root)
    ok = rel is not None and re.fullmatch(
        r"(kernel/mm/hugepages|devices/system/node/node\d+/hugepages)/hugepages-\d+kB/nr_hugepages", rel)
    added = data.get("added")
    if not ok:
        return f"names {str(data.get('path'))[:80]!r}, not a hugepage pool under {sc.sys_root}"
    if not isinstance(added, int) or isinstance(added, bool) or not 0 <= added <= 1 << 24:
        return f"adds {str(added)[:20]!r} pages, not a page count"
    return None


@register_undo("hugepages_add", scope=_hugepages_scope)
def _undo_hugepages_add(data: dict) -> None:
    path = Path(data["path"])
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # read-modify-write against other runs doing the same
        now = _read_int(path)
        write_sysfs(path, str(max(now - int(data["added"]), 0)))
    finally:
        os.close(fd)


@contextlib.contextmanager
def boot_lock(sys_root="/sys", timeout_s: float = 120.0):
    """Serialise "count free pages, reserve, let EAL map them" across harness runs.

    Without it a run can count pages another run reserved but has not mapped yet as free, skip
    reserving, and lose them to that run's EAL. The lock is an flock on the sysfs hugepages
    directory itself, so nothing is created and nothing is left behind.
    """
    try:
        fd = os.open(Path(sys_root) / "kernel/mm/hugepages", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield  # no hugepage support at all: ensure_free reports that
        return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise HostError(f"another harness run has been booting DPDK for over {timeout_s:.0f} s "
                                    "(it holds the hugepage lock); wait for it or stop it") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


# -- hugetlbfs mounts ----------------------------------------------------------------------


def _unescape(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _parse_size_kb(text: str) -> int | None:
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)[bB]?", text.strip())
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).upper()
    if unit == "G":
        return n << 20
    if unit == "M":
        return n << 10
    if unit == "K":
        return n
    return n // 1024  # plain bytes


def find_mount(size_kb: int, proc_root="/proc", default_size_kb=2048, skip_under=None) -> str | None:
    """The first hugetlbfs mount serving ``size_kb`` pages, from ``<proc_root>/mounts``.

    Mounts below ``skip_under`` are passed over: those belong to other harness runs, which
    unmount them when they end.
    """
    try:
        text = (Path(proc_root) / "mounts").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] != "hugetlbfs":
            continue
        page_kb = default_size_kb
        for opt in fields[3].split(","):
            if opt.startswith("pagesize="):
                page_kb = _parse_size_kb(opt[len("pagesize="):])
        path = _unescape(fields[1])
        if skip_under and (path + "/").startswith(str(skip_under).rstrip("/") + "/"):
            continue
        if page_kb == size_kb:
            return path
    return None


def _mount_hugetlbfs(target: str, size_kb: int) -> None:
    cmd = ["mount", "-t", "hugetlbfs", "-o", f"pagesize={size_text(size_kb)}", "nodev", target]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise OSError(res.returncode, (res.stderr or res.stdout).strip() or "mount failed")


def ensure_mount(
    journal,
    size_kb: int,
    base=DEFAULT_STATE_DIR,
    proc_root="/proc",
    mounter: Callable[[str, int], None] | None = None,
) -> str:
    """An existing hugetlbfs mount for ``size_kb``, else mount one of this run's own at
    ``<base>/<run id>/hugepages-<size>kB`` (never shared: a run unmounts only what it mounted,
    and another run's mmaps must not make that unmount fail).

    ``mounter(target, size_kb)`` does the mount and raises OSError on failure (default: ``mount``).
    """
    found = find_mount(size_kb, proc_root=proc_root, skip_under=base)
    if found:
        return found
    target = Path(base) / getattr(journal, "run_id", "run") / f"hugepages-{size_kb}kB"
    change = journal.record("mount", target=str(target))
    try:
        target.mkdir(parents=True, exist_ok=True)
        (mounter or _mount_hugetlbfs)(str(target), size_kb)
    except (OSError, subprocess.SubprocessError) as err:
        try:
            _undo_mount({"target": str(target)})
            journal.forget(change)
        except OSError:
            pass
        detail = " ".join((getattr(err, "strerror", None) or str(err)).split())
        raise HostError(
            f"cannot mount hugetlbfs for {size_kb}kB pages at {target} ({detail}); run as root, "
            f"or mount one yourself: `mount -t hugetlbfs -o pagesize={size_text(size_kb)} nodev "
            "/dev/hugepages`"
        ) from err
    return str(target)


def _mount_scope(data: dict, sc) -> str | None:
    target = str(data.get("target", ""))
    if sc.below(target, {sc.state_dir, DEFAULT_STATE_DIR}, rf"{re.escape(sc.run_id)}/hugepages-\d+kB"):
        return None
    return f"names mount point {target[:80]!r}, not this run's own hugetlbfs mount"


@register_undo("mount", scope=_mount_scope)
def _undo_mount(data: dict) -> None:
    target = Path(data["target"])
    if os.path.ismount(target):
        res = subprocess.run(["umount", str(target)], capture_output=True, text=True)
        if res.returncode != 0 and "busy" in (res.stderr or ""):
            # our own mount, still mapped by this (exiting) process after rte_eal_cleanup:
            # detach it now; the kernel frees it when the last mapping goes
            res = subprocess.run(["umount", "-l", str(target)], capture_output=True, text=True)
        if res.returncode != 0 and "not mounted" not in (res.stderr or ""):
            raise HostError(
                f"umount {target} failed ({' '.join(res.stderr.split())}); "
                f"stop whatever uses it (`fuser -vm {target}`) and unmount it by hand"
            )
    try:
        target.rmdir()
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
            raise
    try:  # the per-run directory the mount point was made in
        target.parent.rmdir()
    except OSError:
        pass
