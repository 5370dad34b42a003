"""The change journal: record before acting, undo in reverse, restore after a kill."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from harness.errors import HostError
from harness.system import journal as jmod
from harness.system.journal import ERROR_PREFIX, Journal, register_undo, restore

UNDONE: list = []


def _anything(data, scope):
    return None


@register_undo("test_note", scope=_anything)
def _undo_note(data):
    UNDONE.append(data["n"])


@register_undo("test_fails", scope=_anything)
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
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([j.path.name, jmod.LEDGER])
    j.undo_all()
    assert not tmp_path.exists()  # journal, ledger and the state dir itself are gone


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
    # the failed change is still owed on disk (the others are marked undone), and only it is retried
    assert [c["kind"] for c in _on_disk(j)["changes"] if not c["undone"]] == ["test_fails"]
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


def _killed(state, run_id, changes, *, pid=None, started=None):
    """A journal as a killed run leaves it: written by Journal, then the pid set to a dead one."""
    j = Journal(state, run_id=run_id)
    for kind, data in changes:
        j.record(kind, **data)
    doc = json.loads(j.path.read_text())
    doc["pid"] = _dead_pid() if pid is None else pid
    if started is not None:
        doc["started"] = started
    j.path.write_text(json.dumps(jmod.seal(doc)))
    return j.path


def test_restore_undoes_a_dead_process_journal_and_leaves_a_live_one(tmp_path):
    live = Journal(tmp_path, run_id="run-live")
    live.record("test_note", n="live")
    _killed(tmp_path, "run-dead", [("test_note", {"n": "dead1"}), ("test_note", {"n": "dead2"})])

    lines = restore(tmp_path)

    assert "restored run-dead: 2 changes" in lines
    assert f"skipped run-live: pid {os.getpid()} is still running" in lines
    assert not any(line.startswith(ERROR_PREFIX) for line in lines)
    assert not (tmp_path / "run-dead.json").exists() and live.path.exists()
    assert UNDONE == ["dead2", "dead1"]
    assert list(jmod.ledger_runs(tmp_path)) == ["run-live"]


def test_restore_treats_a_reused_pid_as_dead(tmp_path):
    # our own pid, but the journal claims to predate this process by a day
    import psutil

    _killed(tmp_path, "run-old", [("test_note", {"n": "old"})], pid=os.getpid(),
            started=psutil.Process().create_time() - 86400)
    assert restore(tmp_path) == ["restored run-old: 1 change"]


def test_restore_reports_failures_and_keeps_them(tmp_path):
    _killed(tmp_path, "run-bad", [("test_note", {"n": 1}), ("test_fails", {"n": 2, "fail_times": 1})])
    lines = restore(tmp_path)
    assert lines[0].startswith(f"{ERROR_PREFIX}run-bad: could not undo test_fails")
    assert lines[1] == f"restored run-bad: 1 of 2 changes; 1 left in {tmp_path / 'run-bad.json'}"
    assert (tmp_path / "run-bad.json").exists()
    assert restore(tmp_path) == ["restored run-bad: 1 change"]  # still owed: retried, not a replay
    assert UNDONE == ["fail-2", 1, 2]


def test_restore_flags_an_unreadable_journal(tmp_path):
    (tmp_path / "run-junk.json").write_text("{not json")
    (line,) = restore(tmp_path)
    assert line.startswith(ERROR_PREFIX) and "corrupt journal (not JSON" in line
    assert (tmp_path / "run-junk.json").read_text() == "{not json"


def _one_rejection(state, needle, **kw):
    lines = restore(state, **kw)
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX) and "\n" not in lines[0], lines
    assert needle in lines[0], lines[0]
    assert UNDONE == []
    return lines[0]


def test_a_foreign_journal_is_left_alone(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    f = tmp_path / "run-1-ab.json"
    text = json.dumps({"pid": _dead_pid(), "started": 1.0,
                       "changes": [{"id": 1, "kind": "dir", "data": {"path": str(victim)}}]})
    f.write_text(text)
    _one_rejection(tmp_path, "not a dpdk-harness journal")
    assert victim.is_dir() and f.read_text() == text


def test_a_journal_naming_a_path_the_harness_never_makes_is_left_alone(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "data").write_text("keep")
    _killed(tmp_path, "run-evil", [("test_note", {"n": 1}), ("dir", {"path": str(victim)})])
    line = _one_rejection(tmp_path, "the harness never makes that")
    assert str(victim) in line
    assert (victim / "data").read_text() == "keep" and (tmp_path / "run-evil.json").exists()


def test_a_journal_of_an_unknown_kind_is_left_alone_naming_the_kinds(tmp_path):
    path = _killed(tmp_path, "run-k", [("test_note", {"n": 1})])
    doc = json.loads(path.read_text())
    doc["changes"][0]["kind"] = "rm_rf"
    path.write_text(json.dumps(jmod.seal(doc)))
    line = _one_rejection(tmp_path, "kind 'rm_rf', which the harness never records")
    assert "hugepages_add" in line and "mount" in line


def test_an_edited_journal_is_corrupt_and_left_alone(tmp_path):
    path = _killed(tmp_path, "run-e", [("test_note", {"n": 1})])
    doc = json.loads(path.read_text())
    doc["changes"][0]["data"]["n"] = 2  # edited without a new checksum
    path.write_text(json.dumps(doc))
    _one_rejection(tmp_path, "checksum does not match")


def test_a_journal_of_another_boot_or_name_is_left_alone(tmp_path):
    path = _killed(tmp_path, "run-b", [("test_note", {"n": 1})])
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(jmod.seal(dict(doc, boot_id="00000000-0000-0000-0000-000000000000"))))
    _one_rejection(tmp_path, "earlier boot")
    path.write_text(json.dumps(doc))
    path.rename(tmp_path / "run-c.json")
    _one_rejection(tmp_path, "under another name")


def test_a_replayed_journal_is_left_alone(tmp_path):
    path = _killed(tmp_path, "run-r", [("test_note", {"n": "once"})])
    saved = path.read_text()
    assert restore(tmp_path) == ["restored run-r: 1 change"]
    assert UNDONE == ["once"]
    UNDONE.clear()
    tmp_path.mkdir(exist_ok=True)
    path.write_text(saved)  # put back: undoing it again would take e.g. hugepages a second time
    _one_rejection(tmp_path, "replayed journal")
    assert path.read_text() == saved


def test_hugepages_are_given_back_once_per_run(tmp_path):
    from tests.unit.fakesys import FakeHost

    host = FakeHost(tmp_path / "root")
    d = host.add_hugepages(2048, total=100)
    state = tmp_path / "state"
    path = _killed(state, "run-h", [("hugepages_add", {"path": str(d / "nr_hugepages"), "previous": "100",
                                                       "added": 40})])
    saved = path.read_text()
    (d / "nr_hugepages").write_text("140\n")  # the run's 40 ...
    (d / "nr_hugepages").write_text("150\n")  # ... and 10 another run added meanwhile
    assert restore(state, sys_root=host.sys_root) == ["restored run-h: 1 change"]
    assert (d / "nr_hugepages").read_text().strip() == "110"
    state.mkdir()
    path.write_text(saved)
    _one_rejection(state, "replayed journal", sys_root=host.sys_root)
    assert (d / "nr_hugepages").read_text().strip() == "110"  # the other run's pages stay


def test_a_hugepage_entry_outside_the_sysfs_root_is_left_alone(tmp_path):
    knob = tmp_path / "etc-file"
    knob.write_text("1000\n")
    _killed(tmp_path / "s", "run-x", [("hugepages_add", {"path": str(knob), "previous": "0", "added": 1000})])
    _one_rejection(tmp_path / "s", "not a hugepage pool")
    assert knob.read_text() == "1000\n"


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


def test_restore_forgets_a_run_killed_between_the_ledger_and_its_journal(tmp_path):
    # a run SIGKILLed inside Journal.record after listing itself in the ledger, before its file was written
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with jmod._ledger(tmp_path) as runs:
        runs["run-gone"] = {"pid": int(dead.stdout), "boot_id": jmod.boot_id(), "started": time.time() - 5}
    live = Journal(tmp_path, run_id="run-listing")  # alive, about to write its file: left listed
    with jmod._ledger(tmp_path) as runs:
        runs[live.run_id] = {"pid": os.getpid(), "boot_id": jmod.boot_id(), "started": live.started}

    assert restore(tmp_path) == ["forgot run-gone: it ended before writing its journal, so nothing of it is owed"]
    assert list(jmod.ledger_runs(tmp_path)) == ["run-listing"]

    with jmod._ledger(tmp_path) as runs:
        runs.pop("run-listing")
        runs["run-old-format"] = {"pid": int(dead.stdout), "boot_id": "another-boot"}
    assert restore(tmp_path) == ["forgot run-old-format: it ended before writing its journal, so nothing of it is "
                                 "owed"]
    assert not tmp_path.exists(), "the ledger and the state dir are the harness's: gone once nothing is owed"
