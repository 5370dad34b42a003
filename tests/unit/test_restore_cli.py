"""`python -m harness restore` against a temporary state directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _journal(path, changes, pid=None):
    started = time.time() if pid else 1.0
    path.write_text(json.dumps({"pid": pid or _dead_pid(), "started": started,
                                "changes": changes}))


def test_restore_undoes_a_killed_run(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    made = tmp_path / "dpdk-runtime"
    made.mkdir()
    knob = tmp_path / "nr_hugepages"
    knob.write_text("256\n")
    _journal(state / "run-1-ab.json", [
        {"id": 1, "kind": "sysfs_write", "data": {"path": str(knob), "previous": "0"}},
        {"id": 2, "kind": "dir", "data": {"path": str(made)}},
        {"id": 3, "kind": "mount", "data": {"target": str(tmp_path / "never-mounted")}},
    ])
    res = _run("restore", "--state-dir", str(state))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == ["restored run-1-ab: 3 changes"]
    assert knob.read_text() == "0" and not made.exists()
    assert not state.exists()  # the empty state dir goes too: nothing left behind


def test_restore_exits_1_when_something_could_not_be_undone(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    _journal(state / "run-2-cd.json", [
        {"id": 1, "kind": "sysfs_write",
         "data": {"path": str(tmp_path / "gone" / "nr_hugepages"), "previous": "0"}},
    ])
    res = _run("restore", "--state-dir", str(state))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0].startswith("error: run-2-cd: could not undo sysfs_write ")
    assert lines[-1].startswith("restored run-2-cd: 0 of 1 changes; 1 left in ")
    assert (state / "run-2-cd.json").exists()


def test_restore_leaves_a_live_run_alone(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    made = tmp_path / "busy"
    made.mkdir()
    _journal(state / "run-live.json", [{"id": 1, "kind": "dir", "data": {"path": str(made)}}],
             pid=os.getpid())
    res = _run("restore", "--state-dir", str(state))
    assert res.returncode == 0
    assert res.stdout.strip() == f"skipped run-live: pid {os.getpid()} is still running"
    assert made.exists()


def test_restore_with_nothing_to_do(tmp_path):
    res = _run("restore", "--state-dir", str(tmp_path / "none"))
    assert res.returncode == 0
    assert "nothing to restore" in res.stdout


def test_no_subcommand_is_a_usage_error():
    res = _run()
    assert res.returncode == 2 and "restore" in res.stderr
