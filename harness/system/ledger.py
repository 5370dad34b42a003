"""The ledger of runs whose change journals are still owed an undo (``<state_dir>/runs.ledger``).

A run lists itself before its first journal write and leaves once nothing is owed; ``restore`` undoes only a
journal whose run is listed, so a journal file put back after its undo (a replay) is left alone. The ledger
and the state directory are the harness's own: they go when the last run leaves.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

LEDGER = "runs.ledger"


@contextlib.contextmanager
def locked(state_dir):
    """The ledger's run ids (a dict to edit in place), under an flock; written back on exit."""
    state_dir = Path(state_dir)
    path = state_dir / LEDGER
    for attempt in range(100):
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            if attempt == 99:
                raise
            continue  # another run removed the (then empty) state dir meanwhile
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # removed by another run while we waited: take the new one
    try:
        raw = os.read(fd, 1 << 20).decode(errors="replace")
        try:
            runs = json.loads(raw) if raw.strip() else {}
            if not isinstance(runs, dict):
                runs = {}
        except ValueError:
            runs = {}
        before = dict(runs)
        yield runs
        if runs == before and raw.strip():
            return
        if runs:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(runs, indent=1, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        else:
            os.unlink(path)
            try:  # the state dir is ours too: leave nothing behind once nothing is owed
                state_dir.rmdir()
            except OSError:
                pass
    finally:
        os.close(fd)


def ledger_runs(state_dir) -> dict:
    path = Path(state_dir) / LEDGER
    try:
        runs = json.loads(path.read_text())
        return runs if isinstance(runs, dict) else {}
    except (OSError, ValueError):
        return {}
