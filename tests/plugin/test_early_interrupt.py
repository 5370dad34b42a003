"""Ctrl-C in the first instants of ``./harness.sh suites``: one line, never a traceback.

Before harness.pytest_main has its handler (bash's setup checks, Python starting up), a press stops
the run with one line and an interrupted run's status; nothing has been changed on the host. A
later press is the plugin's: the run writes its reports, marked interrupted (tests/system/
test_interrupt.py). Either way the host is left as it was.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import interrupts

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def harness_sh_ready():
    """``./harness.sh setup`` first, so the timed runs below start the run, not a rebuild of .venv."""
    res = subprocess.run([str(REPO / "harness.sh"), "setup"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"./harness.sh setup failed, so its Ctrl-C cannot be tested:\n{res.stdout}{res.stderr}"


#: a press while Python starts under harness.sh's ``env --block-signal=INT``, made certain: SIGINT is blocked and
#: pending before the exec (both survive it), so the interpreter starts with the press already waiting
PRESSED_BEFORE_EXEC = ("import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}); "
                       "os.kill(os.getpid(), signal.SIGINT); os.execv(sys.argv[1], sys.argv[1:])")


def test_a_press_while_python_starts_is_one_line(tmp_path, host_guard):
    """Certain, not timed: the press is pending before the interpreter runs a line."""
    reports = tmp_path / "reports"
    res = subprocess.run([sys.executable, "-c", PRESSED_BEFORE_EXEC, sys.executable, "-m", "harness.pytest_main",
                          "-p", "no:cacheprovider", "suites/", "--dpdk-report-dir", str(reports)],
                         cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert (res.returncode, res.stdout, res.stderr) == (interrupts.EXIT_INTERRUPTED, "",
                                                         interrupts.BEFORE_ANY_CHANGE + "\n"), (
        f"expected exit {interrupts.EXIT_INTERRUPTED} and only {interrupts.BEFORE_ANY_CHANGE!r} on stderr, got exit "
        f"{res.returncode}:\n{res.stdout}{res.stderr}")
    assert not reports.exists(), "a run stopped before it began wrote reports"
    host_guard()


@pytest.mark.parametrize("delay_s", [0.02, 0.05, 0.1, 0.2, 0.3])
def test_ctrl_c_at_once_after_harness_sh_suites(tmp_path, host_guard, harness_sh_ready, delay_s):
    """A press in the first 0.3 s: either the one line (bash or Python still starting) or, once the
    plugin's handler has it, the reports marked interrupted; never a traceback, always status 2."""
    reports = tmp_path / "reports"
    proc = subprocess.Popen([str(REPO / "harness.sh"), "suites", "-q", "-p", "no:cacheprovider",
                             "--dpdk-report-dir", str(reports)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay_s)
    ended_before = proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert not ended_before, f"./harness.sh suites ended before the press at {delay_s} s (exit {proc.returncode}):\n{out}{err}"
    text = f"exit {proc.returncode}\n--- stdout\n{out}--- stderr\n{err}"
    assert proc.returncode == interrupts.EXIT_INTERRUPTED, f"expected exit {interrupts.EXIT_INTERRUPTED}: {text}"
    assert "Traceback" not in err + out and "Fatal Python error" not in err, f"a traceback: {text}"
    if reports.exists():  # the plugin had it: reports written, marked interrupted
        assert json.loads((reports / "results.json").read_text())["interrupted"] is True, text
    else:
        assert (out, err) == ("", interrupts.BEFORE_ANY_CHANGE + "\n"), (
            f"expected only {interrupts.BEFORE_ANY_CHANGE!r} on stderr when no report was written: {text}")
    host_guard()
