"""The change journal: every host change is recorded *before* it is made.

A :class:`Journal` is one small JSON state file, ``<state_dir>/<run_id>.json``::

    {"pid": 1234, "started": 1700000000.0, "changes": [
        {"id": 1, "kind": "sysfs_write", "data": {"path": "...", "previous": "0"}}, ...]}

It is rewritten atomically (temporary file, fsync, rename) each time a change is recorded,
forgotten or undone, so a process killed at any point leaves a file that says what to undo.
:meth:`Journal.undo_all` undoes a run's changes in reverse order; :func:`restore` undoes
the journals of processes that died without doing so (``python -m harness restore``).

Undo functions are registered per kind with :func:`register_undo`, in the module that
makes that kind of change. This module provides ``sysfs_write`` and ``dir``; ``mount``
lives in :mod:`harness.system.hugepages`, ``pci_bind`` in :mod:`harness.system.pci`,
``netns`` and ``link`` in :mod:`harness.system.netns`.
"""
from __future__ import annotations

import errno
import importlib
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from harness.errors import HostError

DEFAULT_STATE_DIR = "/run/dpdk-harness"

#: Report lines from :func:`restore` that mean "something could not be undone" start with this.
ERROR_PREFIX = "error: "

_UNDO: dict[str, Callable[[dict], None]] = {}

# Modules that register undo kinds; imported before undoing a journal from another process.
_UNDO_MODULES = ("harness.system.hugepages", "harness.system.pci", "harness.system.netns")


def register_undo(kind: str):
    """Decorator: register ``fn(data: dict) -> None`` as the undo of changes of ``kind``.

    An undo must be idempotent (undoing twice, or undoing a change that was only half made,
    is not an error) and raise with a one-line message when it cannot do its work.
    """

    def decorator(fn):
        _UNDO[kind] = fn
        return fn

    return decorator


def undo_kinds() -> tuple[str, ...]:
    _load_undoers()
    return tuple(sorted(_UNDO))


def _load_undoers() -> None:
    for name in _UNDO_MODULES:
        importlib.import_module(name)


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def write_sysfs(path, value: str) -> None:
    """One write(2) of ``value`` to an existing file, as ``echo value > path`` does.

    No O_CREAT: a missing sysfs attribute is an error, not a new file. An empty value is
    written as a newline (the kernel clears e.g. ``driver_override`` on an empty line).
    """
    data = (str(value) or "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class Journal:
    """The record of one run's host changes; see the module docstring."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, run_id: str | None = None):
        self.state_dir = Path(state_dir)
        self.run_id = run_id or f"run-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.state_dir / f"{self.run_id}.json"
        self.pid = os.getpid()
        self.started = time.time()
        self._changes: list[dict] = []
        self._next_id = 1
        self._lock = threading.RLock()

    @classmethod
    def load(cls, path) -> "Journal":
        """Open an existing state file (for :func:`restore`); raises OSError / ValueError."""
        path = Path(path)
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("changes"), list):
            raise ValueError("not a dpdk-harness journal (no 'changes' list)")
        j = cls(path.parent, run_id=path.name.removesuffix(".json"))
        j.path = path
        j.pid = int(doc.get("pid", 0))
        j.started = float(doc.get("started", 0.0))
        for change in doc["changes"]:
            if not isinstance(change, dict) or "kind" not in change:
                raise ValueError(f"malformed change record {change!r}")
            change.setdefault("data", {})
        j._changes = list(doc["changes"])
        j._next_id = max((int(c.get("id", 0)) for c in j._changes), default=0) + 1
        return j

    @property
    def changes(self) -> list[dict]:
        """The changes still to undo, oldest first (copies)."""
        with self._lock:
            return [json.loads(json.dumps(c)) for c in self._changes]

    def __len__(self) -> int:
        return len(self._changes)

    def __repr__(self) -> str:
        return f"<Journal {self.path} changes={len(self._changes)}>"

    # -- recording -------------------------------------------------------------------------

    def record(self, kind: str, **data) -> dict:
        """Append a change and write the state file; call this BEFORE making the change."""
        if kind not in _UNDO:
            _load_undoers()
            if kind not in _UNDO:
                raise ValueError(f"no undo registered for change kind {kind!r}")
        json.dumps(data)  # fail on unserialisable data before anything is written
        with self._lock:
            change = {"id": self._next_id, "kind": kind, "data": data, "at": time.time()}
            self._changes.append(change)
            try:
                self._write()
            except OSError as err:
                self._changes.pop()
                raise HostError(
                    f"cannot write the change journal {self.path}: {err.strerror or err}; "
                    "run as root or point the harness at a writable state directory"
                ) from err
            self._next_id += 1
            return change

    def forget(self, change: dict) -> None:
        """Drop a change that was not made after all, or that its owner already undid."""
        with self._lock:
            before = len(self._changes)
            self._changes = [c for c in self._changes if c["id"] != change["id"]]
            if len(self._changes) != before:
                self._sync()

    # -- undoing ---------------------------------------------------------------------------

    def undo_all(self) -> list[str]:
        """Undo every change, newest first. Returns one line per failure; the rest still run.

        Undone changes leave the state file as they go; failed ones stay in it, so a later
        ``undo_all`` or :func:`restore` retries them. The file is removed once all are undone.
        """
        errors: list[str] = []
        with self._lock:
            for change in reversed(list(self._changes)):
                kind, data = change["kind"], dict(change.get("data") or {})
                fn = _UNDO.get(kind)
                if fn is None:
                    _load_undoers()
                    fn = _UNDO.get(kind)
                try:
                    if fn is None:
                        raise HostError(f"no undo registered for change kind {kind!r}")
                    fn(data)
                except Exception as err:  # noqa: BLE001 - every failure is reported, the rest run
                    errors.append(f"could not undo {_describe(kind, data)}: {_one_line(err)}")
                    continue
                self._changes = [c for c in self._changes if c["id"] != change["id"]]
                try:
                    self._sync()
                except OSError as err:
                    errors.append(f"cannot update the change journal {self.path}: {_one_line(err)}")
        return errors

    # -- the state file --------------------------------------------------------------------

    def _sync(self) -> None:
        """Write the state file, or remove it when nothing is left to undo."""
        if self._changes:
            self._write()
        else:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            try:  # the state dir is ours too: leave nothing behind once nothing is left to undo
                self.path.parent.rmdir()
            except OSError:
                pass

    def _write(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        doc = {"pid": self.pid, "started": self.started, "changes": self._changes}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _describe(kind: str, data: dict) -> str:
    for key in ("path", "target", "pci", "name"):
        if key in data:
            return f"{kind} {data[key]}"
    return kind


# -- generic undo kinds --------------------------------------------------------------------


@register_undo("sysfs_write")
def _undo_sysfs_write(data: dict) -> None:
    write_sysfs(data["path"], data["previous"])


@register_undo("empty_dir")
def _undo_empty_dir(data: dict) -> None:
    """A directory shared with other programs (e.g. /var/run/dpdk): removed only once empty."""
    try:
        Path(data["path"]).rmdir()
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
            raise


@register_undo("dir")
def _undo_dir(data: dict) -> None:
    path = Path(data["path"])
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# -- restore after a kill ------------------------------------------------------------------


def _alive(pid: int, started: float) -> bool:
    """Is the process that wrote a journal still running (and not a reused pid)?"""
    if pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # a process created after the journal was started cannot have written it
        return proc.create_time() <= started + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def restore(state_dir=DEFAULT_STATE_DIR, *, only_dead=True) -> list[str]:
    """Undo the journals in ``state_dir`` left by processes that are no longer alive.

    Returns report lines; lines that report a failure start with :data:`ERROR_PREFIX`.
    """
    d = Path(state_dir)
    if not d.is_dir():
        return [f"nothing to restore: {d} does not exist"]
    files = sorted(d.glob("*.json"))
    if not files:
        return [f"nothing to restore in {d}"]
    _load_undoers()
    lines: list[str] = []
    for f in files:
        try:
            j = Journal.load(f)
        except (OSError, ValueError) as err:
            lines.append(
                f"{ERROR_PREFIX}{f}: unreadable journal ({_one_line(err)}); "
                "undo what it lists by hand, then delete it"
            )
            continue
        if only_dead and _alive(j.pid, j.started):
            lines.append(f"skipped {j.run_id}: pid {j.pid} is still running")
            continue
        n = len(j)
        errors = j.undo_all()
        for e in errors:
            lines.append(f"{ERROR_PREFIX}{j.run_id}: {e}")
        if errors:
            left = len(j)
            lines.append(f"restored {j.run_id}: {n - left} of {n} changes; {left} left in {j.path}")
        else:
            lines.append(f"restored {j.run_id}: {n} change{'s' if n != 1 else ''}")
    return lines
