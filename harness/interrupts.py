"""Ctrl-C, SIGTERM and SIGHUP in a harness run: unwind once, then let the restore finish.

Imported first by :mod:`harness.plugin` (before anything heavy), so a press in the run's first
second is already ours: it is held until the session starts and then raised, and pytest writes
the reports, marked interrupted, and the session restores the host.
"""
from __future__ import annotations

import os
import signal

OWNER_PID = os.getpid()
#: the exit status of an interrupted run: pytest's ExitCode.INTERRUPTED, also before pytest is loaded
EXIT_INTERRUPTED = 2
#: a press before the harness could change anything (harness.sh and harness.pytest_main print it)
BEFORE_ANY_CHANGE = "dpdk-harness: interrupted before anything changed on the host; nothing to restore"


class Stop:
    """Ctrl-C (and SIGTERM/SIGHUP) state of this run; see :func:`_interrupt`."""
    presses = 0
    pending = False      # pressed before the session started: raised at pytest_sessionstart
    started = False      # the session runs: a first press raises KeyboardInterrupt
    tearing_down = False  # reports and the host restore are under way: presses only say so


def say(line: str) -> None:
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


def handle(signum, frame):
    """Ctrl-C, SIGTERM, SIGHUP: unwind once, so the reports are written and the host restored.

    The first press raises KeyboardInterrupt (held until the session starts, so the reports of a
    run stopped in its first second are still written, marked interrupted). Later presses, and
    any press once teardown began, print one line and let the restore finish: a traceback out
    of the teardown would leave hugepages, mounts and links behind.

    Only in the process that owns the run: a forked child (pyroute2 forks for namespace work
    and stops its children with SIGTERM) must die at once, as the default action would, and
    never run our teardown or carry on as a copy of pytest.
    """
    if os.getpid() != OWNER_PID:
        os._exit(128 + signum)
    Stop.presses += 1
    if Stop.presses == 1 and not Stop.tearing_down:
        if not Stop.started:
            Stop.pending = True
            return
        raise KeyboardInterrupt(f"signal {signum}")
    if Stop.presses <= 2 or (Stop.presses == 1 and Stop.tearing_down):
        say(f"dpdk-harness: interrupted{' again' if Stop.presses > 1 else ''}: writing the reports and putting "
             f"the host back; wait for it (to abandon it: kill -9 {os.getpid()}, then ./harness.sh restore)")


def release() -> None:
    """Not a harness run (the plugin stays inert): Ctrl-C is Python's again, and a press held meanwhile is raised."""
    if signal.getsignal(signal.SIGINT) is handle:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if Stop.pending:
        Stop.pending = False
        raise KeyboardInterrupt


if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # nobody else's handler: take Ctrl-C early
    signal.signal(signal.SIGINT, handle)


