"""Two runs asking for the same data-plane CPU: the second waits for it, or refuses in one line (issue 14).

Both runs put their worker lcore on CPU 0 (``--dpdk-lcores 0@1,1@0``), so a run of this very pytest
process, whose worker holds CPU 1, stays out of the way.
"""
import subprocess
import sys
import textwrap
import time

import pytest

LCORES = ["--dpdk-lcores", "0@1,1@0"]

HOLD = textwrap.dedent('''
    import pathlib, time

    def test_hold(ports, worker):
        pathlib.Path("READY").write_text("ok")
        while not pathlib.Path("GO").exists():
            time.sleep(0.05)
''')

USE = textwrap.dedent('''
    def test_use(ports, worker):
        assert ports.ports
''')


def _pytest(cwd, test, *args):
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test, *LCORES,
                             "--dpdk-report-dir", str(cwd / f"reports-{test}"), *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def holder(tmp_path):
    (tmp_path / "test_hold.py").write_text(HOLD)
    (tmp_path / "test_use.py").write_text(USE)
    proc = _pytest(tmp_path, "test_hold.py")
    deadline = time.monotonic() + 90
    while not (tmp_path / "READY").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the first run did not get going:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    yield proc
    (tmp_path / "GO").write_text("go")
    proc.communicate(timeout=60)


def test_a_second_run_refuses_in_one_line_naming_the_holder(tmp_path, holder):
    second = _pytest(tmp_path, "test_use.py", "--dpdk-cpu-wait", "1")
    out, _ = second.communicate(timeout=90)
    assert second.returncode == 4, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if "is in use by" in line]
    assert len(lines) == 1, out
    assert f"CPU 0 is in use by dpdk-harness run PID {holder.pid} (waited 1 s); use --dpdk-lcores " in lines[0], lines
    assert "passed" not in out


def test_a_second_run_waits_for_the_cpu_and_then_runs(tmp_path, holder):
    second = _pytest(tmp_path, "test_use.py", "--dpdk-cpu-wait", "120")
    time.sleep(3)
    assert second.poll() is None, second.communicate()[0]  # still waiting for CPU 0
    (tmp_path / "GO").write_text("go")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert f"waiting up to 120 s for CPU 0, in use by dpdk-harness run PID {holder.pid}" in out, out
    assert "1 passed" in out, out


def test_share_cpus_takes_no_lease(tmp_path, holder):
    second = _pytest(tmp_path, "test_use.py", "--dpdk-cpu-wait", "0", "--dpdk-share-cpus")
    out, _ = second.communicate(timeout=90)
    assert second.returncode == 0, out
    assert "in use by" not in out and "1 passed" in out, out
