"""Interrupting a run leaves the host as it was: by itself after Ctrl-C or SIGTERM,
and through ``python -m harness restore`` after SIGKILL."""
import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

VDEV = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "profiles", "vdev.toml")

HUGE = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

BUSY_TEST = textwrap.dedent('''
    import pathlib, time
    from harness import probe

    def test_busy(topology_of, pool, worker):
        topology_of("af_packet", queues=2)
        tap = topology_of("tap")
        run = probe.Run(worker, [probe.Task.sink(tap.rx)])
        pathlib.Path("READY").write_text("ok")
        time.sleep(60)
        run.stop()
''')


def host_state(pid):
    """What the harness run ``pid`` changed on this host, as plain data (other runs are ignored)."""
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.split("\n")
    mounts = [l.split()[1] for l in open("/proc/mounts") if l.split()[2:3] == ["hugetlbfs"]]
    tag = str(pid % 100000)  # topology.py names links dhv<pid%100000><n>a, dhtap<pid%100000><n>
    return {
        "hugepages": open(HUGE).read().strip(),
        "hugetlbfs": sorted(m for m in mounts if f"/run-{pid}-" in m),
        "netns": sorted(n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
                        if n == f"dh{pid}"),
        "links": sorted(n for n in (l.split()[0].split("@")[0] for l in links if l.strip())
                        if n.startswith(("dhv" + tag, "dhtap" + tag))),
        "runtime": sorted(glob.glob(f"/var/run/dpdk/dh-{pid}-*")),
        "journals": sorted(glob.glob(f"/run/dpdk-harness/run-{pid}-*.json")),
    }


NOTHING = {"hugetlbfs": [], "netns": [], "links": [], "runtime": [], "journals": []}


def other_runs(child_pid):
    """Journals of harness runs other than the child: their reservations come and go on their own."""
    mine = (f"/run/dpdk-harness/run-{child_pid}-", f"/run/dpdk-harness/run-{os.getpid()}-")  # ours hold still
    return {j for j in glob.glob("/run/dpdk-harness/run-*.json") if not j.startswith(mine)}


def assert_restored(child_pid, hugepages_before, others_before, out=""):
    """Nothing of the child's is left; the hugepage count is back, when no other run could have moved it."""
    after = host_state(child_pid)
    if others_before or other_runs(child_pid):
        after["hugepages"] = hugepages_before  # not attributable while other runs reserve and release
    assert after == {**NOTHING, "hugepages": hugepages_before}, out


def start_busy_run(tmp_path):
    (tmp_path / "test_busy.py").write_text(BUSY_TEST)
    # a harness run by request: the busy test lies outside the suites, where the plugin is inert otherwise
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--dpdk-profile={VDEV}",
                             "test_busy.py"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "READY").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the busy run did not get ready:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    return proc


def changed_while_running(proc):
    during = host_state(proc.pid)
    assert during["links"] and during["netns"] and during["runtime"], during  # hugetlbfs: only if none was mounted
    assert during["journals"], "the run keeps no journal of its changes"
    return during


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_restores_the_host(tmp_path, sig):
    hugepages, others = open(HUGE).read().strip(), other_runs(None)
    proc = start_busy_run(tmp_path)
    changed_while_running(proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest: interrupted
    assert_restored(proc.pid, hugepages, others, out)


def test_kill_then_restore_command_restores_the_host(tmp_path):
    hugepages, others = open(HUGE).read().strip(), other_runs(None)
    proc = start_busy_run(tmp_path)
    changed_while_running(proc)
    proc.kill()
    proc.communicate(timeout=30)
    left = host_state(proc.pid)
    assert left["journals"] and left["netns"]  # a killed run cannot clean up after itself
    res = subprocess.run([sys.executable, "-m", "harness", "restore"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"restored run-{proc.pid}-" in res.stdout
    assert_restored(proc.pid, hugepages, others)


def test_a_second_ctrl_c_is_one_line_and_the_host_is_still_restored(tmp_path):
    hugepages, others = open(HUGE).read().strip(), other_runs(None)
    proc = start_busy_run(tmp_path)
    changed_while_running(proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)  # teardown under way: stopping loops, removing topologies, undoing the journal
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    again = [line for line in out.splitlines() if line.startswith("dpdk-harness: interrupted")]
    assert len(again) <= 1, f"one line for the presses after the first, got {again}:\n{out}"
    assert_restored(proc.pid, hugepages, others, out)


@pytest.mark.parametrize("delay_s", [0.2, 0.6])
def test_ctrl_c_in_the_first_second_still_writes_the_report_marked_interrupted(tmp_path, delay_s):
    (tmp_path / "test_busy.py").write_text(BUSY_TEST)
    reports = tmp_path / "reports"
    # what ./harness.sh suites runs: harness.pytest_main takes Ctrl-C before pytest is even imported
    proc = subprocess.Popen([sys.executable, "-m", "harness.pytest_main", "-q", "-p", "no:cacheprovider",
                             "test_busy.py", "--dpdk-report-dir", str(reports)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    import json

    results = json.loads((reports / "results.json").read_text())
    assert results["interrupted"] is True, results
    assert "INCOMPLETE" in (reports / "report.html").read_text()
    assert not glob.glob(f"/run/dpdk-harness/run-{proc.pid}-*.json")
