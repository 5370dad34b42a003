"""The change journal: record before acting, undo in reverse, restore after a kill."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.errors import HostError
from harness.system import journal as jmod
from harness.system.journal import ERROR_PREFIX, Journal, register_undo, restore

UNDONE: list = []


@register_undo("test_note")
def _undo_note(data):
    UNDONE.append(data["n"])


@register_undo("test_fails")
def _undo_fails(data):
    if data.get("fail_times", 0) > len([u for u in UNDONE if u == f"fail-{data['n']}"]):
        UNDONE.append(f"fail-{data['n']}")
        raise OSError("device is busy\nsecond line")
    UNDONE.append(data["n"])


@pytest.fixture(autouse=True)
def _clear():
    UNDONE.clear()
    yield
    UNDONE.clear()


def _on_disk(j: Journal) -> dict:
    return json.loads(j.path.read_text())


def test_state_file_is_created_lazily_and_holds_pid(tmp_path):
    j = Journal(tmp_path / "state", run_id="run-x")
    assert j.path == tmp_path / "state" / "run-x.json"
    assert not j.path.exists()
    j.record("test_note", n=1)
    doc = _on_disk(j)
    assert doc["pid"] == os.getpid()
    assert isinstance(doc["started"], float)
    assert [c["kind"] for c in doc["changes"]] == ["test_note"]


def test_default_run_id_names_the_pid(tmp_path):
    a, b = Journal(tmp_path), Journal(tmp_path)
    assert a.run_id.startswith(f"run-{os.getpid()}-")
    assert a.run_id != b.run_id


def test_record_is_on_disk_before_the_action_runs(tmp_path):
    j = Journal(tmp_path)
    target = tmp_path / "made-by-action"

    def action():
        # what a killed process would leave behind at this instant
        doc = json.loads(j.path.read_text())
        assert {"kind": "dir", "data": {"path": str(target)}}.items() <= doc["changes"][-1].items()
        target.mkdir()

    change = j.record("dir", path=str(target))
    assert "id" in change
    action()
    assert j.undo_all() == []
    assert not target.exists()
    assert not j.path.exists()


def test_no_temporary_file_is_left_behind(tmp_path):
    j = Journal(tmp_path)
    for n in range(3):
        j.record("test_note", n=n)
    assert sorted(p.name for p in tmp_path.iterdir()) == [j.path.name]


def test_undo_runs_in_reverse_order_and_is_idempotent(tmp_path):
    j = Journal(tmp_path)
    for n in range(4):
        j.record("test_note", n=n)
    assert j.undo_all() == []
    assert UNDONE == [3, 2, 1, 0]
    assert not j.path.exists()
    assert j.undo_all() == []
    assert UNDONE == [3, 2, 1, 0]


def test_forget_drops_a_change(tmp_path):
    j = Journal(tmp_path)
    a = j.record("test_note", n="a")
    j.record("test_note", n="b")
    j.forget(a)
    assert [c["data"]["n"] for c in _on_disk(j)["changes"]] == ["b"]
    j.undo_all()
    assert UNDONE == ["b"]


def test_forgetting_the_only_change_removes_the_file(tmp_path):
    j = Journal(tmp_path)
    j.forget(j.record("test_note", n=1))
    assert not j.path.exists()


def test_a_failed_undo_is_one_line_the_rest_still_run_and_it_is_retried(tmp_path):
    j = Journal(tmp_path)
    j.record("test_note", n=1)
    j.record("test_fails", n=2, fail_times=1, path="/x/y")
    j.record("test_note", n=3)
    errors = j.undo_all()
    assert UNDONE == [3, "fail-2", 1]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("could not undo test_fails /x/y: device is busy second line")
    # the failed change is still on disk, and only it is retried
    assert [c["kind"] for c in _on_disk(j)["changes"]] == ["test_fails"]
    assert j.undo_all() == []
    assert UNDONE == [3, "fail-2", 1, 2]
    assert not j.path.exists()


def test_unknown_kind_is_refused_at_record_time(tmp_path):
    with pytest.raises(ValueError, match="no undo registered"):
        Journal(tmp_path).record("no_such_kind", x=1)


def test_unwritable_state_dir_is_a_one_line_host_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    j = Journal(blocker / "sub")
    with pytest.raises(HostError, match="cannot write the change journal") as exc:
        j.record("test_note", n=1)
    assert "\n" not in str(exc.value)
    assert len(j) == 0


def test_sysfs_write_undo_puts_the_previous_value_back(tmp_path):
    f = tmp_path / "nr_hugepages"
    f.write_text("0\n")
    j = Journal(tmp_path / "state")
    j.record("sysfs_write", path=str(f), previous="0")
    f.write_text("128\n")
    assert j.undo_all() == []
    assert f.read_text() == "0"


def test_all_documented_kinds_are_registered():
    assert {"sysfs_write", "hugepages_add", "mount", "dir", "empty_dir", "pci_bind", "netns", "link"} <= set(jmod.undo_kinds())


# -- restore --------------------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _write_journal(path, pid, started, changes):
    path.write_text(json.dumps({"pid": pid, "started": started, "changes": changes}))


def test_restore_undoes_a_dead_process_journal_and_leaves_a_live_one(tmp_path):
    dead_dir, live_dir = tmp_path / "dead-made", tmp_path / "live-made"
    dead_dir.mkdir()
    live_dir.mkdir()
    _write_journal(tmp_path / "run-dead.json", _dead_pid(), 1.0, [
        {"id": 1, "kind": "dir", "data": {"path": str(dead_dir)}},
        {"id": 2, "kind": "test_note", "data": {"n": "dead"}},
    ])
    live = Journal(tmp_path, run_id="run-live")
    live.record("dir", path=str(live_dir))

    lines = restore(tmp_path)

    assert "restored run-dead: 2 changes" in lines
    assert f"skipped run-live: pid {os.getpid()} is still running" in lines
    assert not any(line.startswith(ERROR_PREFIX) for line in lines)
    assert not dead_dir.exists() and not (tmp_path / "run-dead.json").exists()
    assert live_dir.exists() and live.path.exists()
    assert UNDONE == ["dead"]


def test_restore_treats_a_reused_pid_as_dead(tmp_path):
    # our own pid, but the journal claims to predate this process by a day
    import psutil

    started = psutil.Process().create_time() - 86400
    _write_journal(tmp_path / "run-old.json", os.getpid(), started, [
        {"id": 1, "kind": "test_note", "data": {"n": "old"}},
    ])
    assert restore(tmp_path) == ["restored run-old: 1 change"]


def test_restore_reports_failures_and_keeps_them(tmp_path):
    _write_journal(tmp_path / "run-bad.json", _dead_pid(), 1.0, [
        {"id": 1, "kind": "test_note", "data": {"n": 1}},
        {"id": 2, "kind": "test_fails", "data": {"n": 2, "fail_times": 1}},
    ])
    lines = restore(tmp_path)
    assert lines[0].startswith(f"{ERROR_PREFIX}run-bad: could not undo test_fails")
    assert lines[1] == f"restored run-bad: 1 of 2 changes; 1 left in {tmp_path / 'run-bad.json'}"
    assert (tmp_path / "run-bad.json").exists()


def test_restore_flags_an_unreadable_journal(tmp_path):
    (tmp_path / "run-junk.json").write_text("{not json")
    (lines,) = restore(tmp_path)
    assert lines.startswith(ERROR_PREFIX) and "unreadable journal" in lines


def test_restore_of_an_empty_or_missing_dir(tmp_path):
    assert restore(tmp_path) == [f"nothing to restore in {tmp_path}"]
    assert restore(tmp_path / "nope") == [f"nothing to restore: {tmp_path / 'nope'} does not exist"]


def test_empty_dir_undo_leaves_a_dir_others_still_use(tmp_path):
    from harness.system.journal import Journal
    shared = tmp_path / "dpdk"
    (shared / "other-run").mkdir(parents=True)
    j = Journal(tmp_path / "state", "run-x")
    j.record("empty_dir", path=str(shared))
    assert j.undo_all() == []
    assert (shared / "other-run").is_dir()
    (shared / "other-run").rmdir()
    j.record("empty_dir", path=str(shared))
    assert j.undo_all() == [] and not shared.exists()
