"""The generic undo kinds of the change journal: ``sysfs_write``, ``empty_dir`` and ``dir``.

Registered with :func:`harness.system.journal.register_undo` like every other kind; the journal
imports this module (``_UNDO_MODULES``) before it undoes or checks an entry.
"""
from __future__ import annotations

import errno
import re
import shutil
import tempfile
from pathlib import Path

from harness.system.journal import DEFAULT_STATE_DIR, Scope, register_undo, write_sysfs


def _sysfs_scope(data: dict, sc: Scope) -> str | None:
    rel = sc.under(str(data.get("path", "")), sc.sys_root)
    if rel and rel.startswith(("bus/pci/", "kernel/mm/hugepages/", "devices/system/node/")):
        return None
    return f"writes {str(data.get('path'))[:80]!r}, not a PCI or hugepage file under {sc.sys_root}"


@register_undo("sysfs_write", scope=_sysfs_scope)
def _undo_sysfs_write(data: dict) -> None:
    write_sysfs(data["path"], data["previous"])


def _empty_dir_scope(data: dict, sc: Scope) -> str | None:
    if any(sc.under(str(data.get("path", "")), b) == "" for b in sc.runtime_bases):
        return None
    return f"names {str(data.get('path'))[:80]!r}, not EAL's runtime directory"


@register_undo("empty_dir", scope=_empty_dir_scope)
def _undo_empty_dir(data: dict) -> None:
    """A directory shared with other programs (e.g. /var/run/dpdk): removed only once empty."""
    try:
        Path(data["path"]).rmdir()
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
            raise


def _dir_scope(data: dict, sc: Scope) -> str | None:
    """The directories a run makes: EAL runtime dirs dh-<pid>-*/dh-tp-<pid>-*, memif socket dirs
    <state dir>/memif-<pid>-*, pcap scratch dirs <tmp>/dh-pcap-*."""
    path = str(data.get("path", ""))
    pid = re.escape(str(sc.pid))
    if (sc.below(path, sc.runtime_bases, rf"dh-(tp-)?{pid}-[0-9a-f]+")
            or sc.below(path, {sc.state_dir, DEFAULT_STATE_DIR}, rf"memif-{pid}-[0-9a-f]+")
            or sc.below(path, sc.tmp_dirs or (tempfile.gettempdir(), "/tmp"),
                        r"dh-pcap-[A-Za-z0-9_]+")):
        return None
    return f"names {path[:80]!r}, not a directory of run pid {sc.pid}"


@register_undo("dir", scope=_dir_scope)
def _undo_dir(data: dict) -> None:
    path = Path(data["path"])
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
