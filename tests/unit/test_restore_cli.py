"""`python -m harness restore` against a temporary state directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _killed(state, run_id, changes, pid=None):
    """A journal as a killed run leaves it: written by Journal, then the pid set to a dead one."""
    from harness.system.journal import Journal, seal

    j = Journal(state, run_id=run_id)
    for kind, data in changes:
        j.record(kind, **data)
    doc = json.loads(j.path.read_text())
    doc["pid"] = pid or _dead_pid()
    j.path.write_text(json.dumps(seal(doc)))
    return j.path


def test_restore_undoes_a_killed_run(tmp_path):
    from tests.unit.fakesys import FakeHost

    host = FakeHost(tmp_path / "root")
    pool = host.add_hugepages(2048, total=300)
    state = tmp_path / "state"
    _killed(state, "run-1-ab", [
        ("hugepages_add", {"path": str(pool / "nr_hugepages"), "previous": "44", "added": 256}),
        ("mount", {"target": str(state / "run-1-ab" / "hugepages-2048kB")}),  # never mounted: nothing to do
    ])
    res = _run("restore", "--state-dir", str(state), "--sys-root", str(host.sys_root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == ["restored run-1-ab: 2 changes"]
    assert (pool / "nr_hugepages").read_text() == "44"
    assert not state.exists()  # the journal, the ledger and the state dir go: nothing left behind


def test_restore_exits_1_when_something_could_not_be_undone(tmp_path):
    from tests.unit.fakesys import FakeHost

    host = FakeHost(tmp_path / "root")
    gone = host.sys_root / "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"  # no such pool
    state = tmp_path / "state"
    _killed(state, "run-2-cd", [("hugepages_add", {"path": str(gone), "previous": "0", "added": 1})])
    res = _run("restore", "--state-dir", str(state), "--sys-root", str(host.sys_root))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0].startswith("error: run-2-cd: could not undo hugepages_add ")
    assert lines[-1].startswith("restored run-2-cd: 0 of 1 changes; 1 left in ")
    assert (state / "run-2-cd.json").exists()


def test_restore_leaves_a_live_run_alone(tmp_path):
    state = tmp_path / "state"
    target = state / "run-live" / "hugepages-2048kB"
    _killed(state, "run-live", [("mount", {"target": str(target)})], pid=os.getpid())
    res = _run("restore", "--state-dir", str(state))
    assert res.returncode == 0
    assert res.stdout.strip() == f"skipped run-live: pid {os.getpid()} is still running"
    assert (state / "run-live.json").exists()


def test_restore_leaves_a_foreign_journal_alone_in_one_line(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    victim = tmp_path / "precious"
    victim.mkdir()
    text = json.dumps({"pid": _dead_pid(), "started": 1.0,
                       "changes": [{"id": 1, "kind": "dir", "data": {"path": str(victim)}}]})
    (state / "run-9-zz.json").write_text(text)
    res = _run("restore", "--state-dir", str(state))
    assert res.returncode == 1
    assert len(res.stdout.splitlines()) == 1 and "not a dpdk-harness journal" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    assert victim.is_dir() and (state / "run-9-zz.json").read_text() == text


def test_restore_with_nothing_to_do(tmp_path):
    res = _run("restore", "--state-dir", str(tmp_path / "none"))
    assert res.returncode == 0
    assert "nothing to restore" in res.stdout


def test_no_subcommand_is_a_usage_error():
    res = _run()
    assert res.returncode == 2 and "restore" in res.stderr


def test_harness_sh_restore_works_without_a_venv(tmp_path):
    """The README offers ./harness.sh restore: from a checkout with no .venv, the system python3 runs it."""
    import shutil

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(REPO / "harness.sh", checkout / "harness.sh")
    shutil.copytree(REPO / "harness", checkout / "harness", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        import pytest
        pytest.skip("no system python3 outside the venv")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    res = subprocess.run(["bash", str(checkout / "harness.sh"), "restore", "--state-dir", str(tmp_path / "none")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == f"nothing to restore: {tmp_path / 'none'} does not exist"
