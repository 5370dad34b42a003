"""The change journal: every host change is recorded *before* it is made.

A :class:`Journal` is one small JSON state file, ``<state_dir>/<run_id>.json``::

    {"format": "dpdk-harness journal 2", "run_id": "run-1234-ab12cd34", "boot_id": "...",
     "pid": 1234, "started": 1700000000.0, "changes": [
        {"id": 1, "kind": "hugepages_add", "data": {...}, "at": ..., "undone": false}, ...],
     "checksum": "sha256:..."}

It is rewritten atomically (temporary file, fsync, rename) each time a change is recorded,
forgotten or undone (an undone entry is marked ``"undone": true``), so a process killed at any
point leaves a file that says what is left to undo. :meth:`Journal.undo_all` undoes a run's
changes in reverse order; :func:`restore` undoes the journals of processes that died without
doing so (``python -m harness restore``).

:func:`restore` trusts a journal only when it is one of ours and still owed: the checksum holds,
the run id matches the file name, the boot id is this boot's, the run is listed in the ledger
(``<state_dir>/runs.ledger``, the runs whose journals are not yet fully undone: a journal undone
once and put back is a replay), and every entry is of a kind the harness makes, on a path the
harness makes (its hugetlbfs mounts, ``dh-*`` runtime dirs, its netns and links, hugepage pools
under the sysfs root). Anything else is reported in one line and left alone.

Undo functions are registered per kind with :func:`register_undo`, in the module that
makes that kind of change. :mod:`harness.system.undo` provides ``sysfs_write``, ``empty_dir`` and ``dir``; ``mount``
lives in :mod:`harness.system.hugepages`, ``pci_bind`` in :mod:`harness.system.pci`,
``netns`` and ``link`` in :mod:`harness.system.netns`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HostError
from harness.system.ledger import LEDGER, ledger_runs
from harness.system.ledger import locked as _ledger

DEFAULT_STATE_DIR = "/run/dpdk-harness"
FORMAT = "dpdk-harness journal 2"
RUNTIME_BASES = ("/var/run/dpdk", "/run/dpdk")  # EAL's runtime dir (/var/run is /run)

#: Report lines from :func:`restore` that mean "something could not be undone" start with this.
ERROR_PREFIX = "error: "

_UNDO: dict[str, Callable[[dict], None]] = {}
_SCOPE: dict[str, Callable[[dict, "Scope"], str | None]] = {}

# Modules that register undo kinds; imported before undoing a journal from another process.
_UNDO_MODULES = ("harness.system.undo", "harness.system.hugepages", "harness.system.pci", "harness.system.netns")


def register_undo(kind: str, scope: Callable[[dict, "Scope"], str | None] | None = None):
    """Decorator: register ``fn(data: dict) -> None`` as the undo of changes of ``kind``.

    An undo must be idempotent (undoing twice, or undoing a change that was only half made,
    is not an error) and raise with a one-line message when it cannot do its work.
    ``scope(data, scope) -> problem or None`` says whether a change read from a journal file is
    one the harness could have made (its paths, its names); :func:`restore` undoes nothing of a
    journal with an entry outside its scope. A kind without one is never undone by restore.
    """

    def decorator(fn):
        _UNDO[kind] = fn
        if scope is not None:
            _SCOPE[kind] = scope
        return fn

    return decorator


@dataclass(frozen=True)
class Scope:
    """Where the harness makes things, for the journal of run ``run_id`` by process ``pid``."""
    pid: int
    run_id: str
    state_dir: str = DEFAULT_STATE_DIR
    sys_root: str = "/sys"
    runtime_bases: tuple[str, ...] = RUNTIME_BASES
    tmp_dirs: tuple[str, ...] = ()

    def under(self, path: str, base: str) -> str | None:
        """The part of ``path`` below ``base`` ('' for base itself), or None when not below it."""
        p, b = os.path.normpath(str(path)), os.path.normpath(str(base))
        if ".." in str(path).split("/"):
            return None
        if p == b:
            return ""
        return p[len(b) + 1:] if p.startswith(b.rstrip("/") + "/") else None

    def below(self, path: str, bases, pattern: str) -> bool:
        """Is ``path`` below one of ``bases`` with a relative part matching ``pattern`` in full?"""
        for base in bases:
            rel = self.under(path, base)
            if rel and re.fullmatch(pattern, rel):
                return True
        return False


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


def boot_id(proc_root="/proc") -> str:
    """This boot's id (``/proc/sys/kernel/random/boot_id``): journals of another boot are not ours."""
    try:
        return (Path(proc_root) / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def seal(doc: dict) -> dict:
    """``doc`` with its ``checksum``: sha256 over the canonical JSON of everything else."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {**body, "checksum": f"sha256:{digest}"}


class JournalRejected(ValueError):
    """A journal file restore must leave alone; ``str()`` is one line saying why and what to do."""


class Journal:
    """The record of one run's host changes; see the module docstring."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, run_id: str | None = None):
        self.state_dir = Path(state_dir)
        self.run_id = run_id or f"run-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.state_dir / f"{self.run_id}.json"
        self.pid = os.getpid()
        self.started = time.time()
        self.boot_id = boot_id()
        self._changes: list[dict] = []
        self._next_id = 1
        self._listed = False  # in the ledger
        self._lock = threading.RLock()

    @classmethod
    def load(cls, path, *, scope: dict | None = None) -> "Journal":
        """Open a journal file left by another process, for :func:`restore`.

        Raises :class:`JournalRejected` (one line) unless it is one of ours, intact, of this boot,
        still owed, and within the harness's scope (``scope``: keyword arguments of :class:`Scope`).
        """
        path = Path(path)
        fix_by_hand = "check what it lists by hand, then delete it"
        try:
            doc = json.loads(path.read_text())
        except UnicodeDecodeError as err:
            raise JournalRejected(f"corrupt journal (not UTF-8 text at byte {err.start}); {fix_by_hand}") from None
        except ValueError as err:
            raise JournalRejected(f"corrupt journal (not JSON: {_one_line(err)}); {fix_by_hand}") from None
        except OSError as err:
            raise JournalRejected(f"unreadable journal ({err.strerror or err}); {fix_by_hand}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise JournalRejected(f"not a dpdk-harness journal (no \"format\": {FORMAT!r}); left alone: "
                                  "delete it if you know what made it")
        if seal(doc).get("checksum") != doc.get("checksum"):
            raise JournalRejected(f"corrupt journal (checksum does not match: edited or truncated); {fix_by_hand}")
        run_id = path.name.removesuffix(".json")
        if doc.get("run_id") != run_id:
            raise JournalRejected(f"journal of run {str(doc.get('run_id'))[:40]!r} under another name (copied?); "
                                  "left alone: delete it")
        if doc.get("boot_id") != boot_id():
            raise JournalRejected("journal of an earlier boot: nothing it lists survived the reboot; delete it")
        changes = doc.get("changes")
        if not isinstance(changes, list) or not all(isinstance(c, dict) and isinstance(c.get("kind"), str)
                                                    and isinstance(c.get("data", {}), dict) for c in changes):
            raise JournalRejected(f"corrupt journal (malformed change records); {fix_by_hand}")
        j = cls(path.parent, run_id=run_id)
        j.path = path
        try:
            j.pid, j.started = int(doc.get("pid", 0)), float(doc.get("started", 0.0))
        except (TypeError, ValueError):
            raise JournalRejected(f"corrupt journal (pid/started); {fix_by_hand}") from None
        j.boot_id = doc["boot_id"]
        j._changes = [dict(c, data=dict(c.get("data") or {})) for c in changes]
        j._next_id = max((int(c.get("id", 0)) for c in j._changes), default=0) + 1
        j._listed = True
        _load_undoers()
        sc = Scope(pid=j.pid, run_id=run_id, state_dir=str(path.parent), **(scope or {}))
        for c in j._changes:
            if c.get("undone"):
                continue
            check = _SCOPE.get(c["kind"])
            if check is None:
                known = ", ".join(sorted(_SCOPE))
                raise JournalRejected(f"entry {c.get('id')} is of kind {c['kind'][:40]!r}, which the harness never "
                                      f"records (it records {known}); left alone: {fix_by_hand}")
            problem = check(c["data"], sc)
            if problem:
                raise JournalRejected(f"entry {c.get('id')} ({_describe(c['kind'], c['data'])[:120]}) {problem}; "
                                      f"left alone: the harness never makes that, {fix_by_hand}")
        if run_id not in ledger_runs(path.parent):
            raise JournalRejected("replayed journal: run is not owed an undo (it was restored before, or the file "
                                  "was put back); left alone: delete it")
        return j

    @property
    def changes(self) -> list[dict]:
        """The changes still to undo, oldest first (copies)."""
        with self._lock:
            return [json.loads(json.dumps(c)) for c in self._changes if not c.get("undone")]

    def __len__(self) -> int:
        return sum(1 for c in self._changes if not c.get("undone"))

    def __repr__(self) -> str:
        return f"<Journal {self.path} changes={len(self)}>"

    # -- recording -------------------------------------------------------------------------

    def record(self, kind: str, **data) -> dict:
        """Append a change and write the state file; call this BEFORE making the change."""
        if kind not in _UNDO:
            _load_undoers()
            if kind not in _UNDO:
                raise ValueError(f"no undo registered for change kind {kind!r}")
        json.dumps(data)  # fail on unserialisable data before anything is written
        with self._lock:
            change = {"id": self._next_id, "kind": kind, "data": data, "at": time.time(), "undone": False}
            self._changes.append(change)
            try:
                if not self._listed:
                    with _ledger(self.state_dir) as runs:
                        runs[self.run_id] = {"pid": self.pid, "boot_id": self.boot_id, "started": self.started}
                    self._listed = True
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

        Each undone change is marked ``undone`` in the state file as it goes; failed ones stay
        owed, so a later ``undo_all`` or :func:`restore` retries them. Once nothing is owed the
        file is removed and the run leaves the ledger.
        """
        errors: list[str] = []
        with self._lock:
            for change in reversed(list(self._changes)):
                if change.get("undone"):
                    continue
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
                change["undone"] = True
                try:
                    self._sync()
                except OSError as err:
                    errors.append(f"cannot update the change journal {self.path}: {_one_line(err)}")
        return errors

    # -- the state file --------------------------------------------------------------------

    def _sync(self) -> None:
        """Write the state file, or remove it (and leave the ledger) when nothing is left to undo."""
        if any(not c.get("undone") for c in self._changes):
            self._write()
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        if self._listed:
            with _ledger(self.state_dir) as runs:
                runs.pop(self.run_id, None)
            self._listed = False
        else:
            try:  # the state dir is ours too: leave nothing behind once nothing is left to undo
                self.path.parent.rmdir()
            except OSError:
                pass

    def _write(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        doc = seal({"format": FORMAT, "run_id": self.run_id, "boot_id": self.boot_id, "pid": self.pid,
                    "started": self.started, "changes": self._changes})
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


def _claimed_owner(path) -> tuple[int, float]:
    """The pid and start time a journal file claims, whatever else is wrong with it (0, 0.0 if none)."""
    try:
        doc = json.loads(Path(path).read_text())
        return int(doc.get("pid", 0)), float(doc.get("started", 0.0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0, 0.0


def restore(state_dir=DEFAULT_STATE_DIR, *, only_dead=True, sys_root="/sys",
            runtime_bases: tuple[str, ...] = RUNTIME_BASES, tmp_dirs: tuple[str, ...] = ()) -> list[str]:
    """Undo the journals in ``state_dir`` left by processes that are no longer alive.

    A journal that is not one of ours, corrupt, of another boot, replayed, or lists anything
    the harness never makes is reported in one line and left alone (see the module docstring).
    Returns report lines; lines that report a failure start with :data:`ERROR_PREFIX`.
    """
    d = Path(state_dir)
    if not d.is_dir():
        return [f"nothing to restore: {d} does not exist"]
    files = sorted(d.glob("*.json"))
    if not files:
        return _prune_ledger(d, only_dead) or [f"nothing to restore in {d}"]
    _load_undoers()
    scope = {"sys_root": str(sys_root), "runtime_bases": tuple(runtime_bases), "tmp_dirs": tuple(tmp_dirs)}
    lines: list[str] = []
    for f in files:
        try:
            j = Journal.load(f, scope=scope)
        except JournalRejected as err:
            if not f.exists():
                continue  # its run finished meanwhile and removed it: nothing owed
            pid, started = _claimed_owner(f)
            if only_dead and _alive(pid, started):  # leaving a file alone is always safe
                lines.append(f"skipped {f.name.removesuffix('.json')}: pid {pid} is still running")
            else:
                lines.append(f"{ERROR_PREFIX}{f}: {err}")
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
    return lines + _prune_ledger(d, only_dead)


def _prune_ledger(d: Path, only_dead: bool) -> list[str]:
    """Take out of the ledger the runs that died before their journal file was written (killed between the two
    writes of :meth:`Journal.record`): nothing of theirs is owed. The ledger, then the state directory, go when
    empty. A run still alive, or of which only the pid is known and that pid runs, is left listed."""
    if not (d / LEDGER).exists():
        return []
    lines: list[str] = []
    this_boot = boot_id()
    with _ledger(d) as runs:
        for run_id, info in list(runs.items()):
            if (d / f"{run_id}.json").exists():
                continue
            info = info if isinstance(info, dict) else {}
            try:
                pid, started = int(info.get("pid", 0)), float(info.get("started", math.inf))
            except (TypeError, ValueError):
                pid, started = 0, 0.0
            if only_dead and info.get("boot_id") == this_boot and _alive(pid, started):
                continue
            del runs[run_id]
            lines.append(f"forgot {run_id}: it ended before writing its journal, so nothing of it is owed")
    return lines
