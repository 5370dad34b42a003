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


def host_state(pid=None):
    """What a harness run may change on this host, as plain data."""
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout.split("\n")
    mounts = [l.split()[1] for l in open("/proc/mounts") if l.split()[2:3] == ["hugetlbfs"]]
    return {
        "hugepages": open(HUGE).read().strip(),
        "hugetlbfs": sorted(mounts),
        "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "links": sorted(l.split()[0].split("@")[0] for l in links if l.startswith(("dhv", "dhtap"))),
        "runtime": sorted(glob.glob("/var/run/dpdk/dh-*")),
        "journals": sorted(glob.glob("/run/dpdk-harness/run-*.json")),
    }


def start_busy_run(tmp_path):
    (tmp_path / "test_busy.py").write_text(BUSY_TEST)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_busy.py"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "READY").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the busy run did not get ready:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    return proc


def changed_while_running(before, proc):
    during = host_state()
    assert during["links"] != before["links"] and during["netns"] != before["netns"], during
    assert during["journals"] != before["journals"], "the run keeps no journal of its changes"
    return during


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_restores_the_host(tmp_path, sig):
    before = host_state()
    proc = start_busy_run(tmp_path)
    changed_while_running(before, proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest: interrupted
    assert host_state() == before, out


def test_kill_then_restore_command_restores_the_host(tmp_path):
    before = host_state()
    proc = start_busy_run(tmp_path)
    changed_while_running(before, proc)
    proc.kill()
    proc.communicate(timeout=30)
    left = host_state()
    assert left != before  # a killed run cannot clean up after itself
    res = subprocess.run([sys.executable, "-m", "harness", "restore"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"restored run-{proc.pid}-" in res.stdout
    assert host_state() == before
