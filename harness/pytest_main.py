"""``python -m harness.pytest_main ARGS``: pytest, with Ctrl-C handled from the first instant.

What ``./harness.sh suites`` and ``./harness.sh test`` run, as ``env --block-signal=INT python -m
harness.pytest_main``: SIGINT is blocked from before the interpreter starts until here, so a Ctrl-C
while Python is still starting cannot end in a KeyboardInterrupt traceback (nor in a fatal error,
when it lands in ``site``). Such a press is pending now: the run stops with one line and the status
of an interrupted run, as nothing has been changed yet. Importing :mod:`harness.interrupts` before
pytest means a later press, while pytest itself is still loading, is held until the session starts,
so even a run stopped in its first second writes its reports (marked interrupted).
"""
from harness import interrupts  # installs the handler

# isort: split
import signal
import sys

#: harness is imported before pytest (above), so pytest cannot rewrite its asserts and says so on every
#: run; nothing of harness relies on assert rewriting (the suites, which do, are imported by pytest)
QUIET = ["-W", "ignore:Module already imported so cannot be rewritten; harness:pytest.PytestAssertRewriteWarning"]


def main(args: list[str]) -> int:
    if signal.SIGINT in signal.sigpending():  # pressed while SIGINT was blocked (harness.sh): before anything ran
        interrupts.say(interrupts.BEFORE_ANY_CHANGE)
        return interrupts.EXIT_INTERRUPTED
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # from here a press is interrupts.handle's
    import pytest

    return pytest.main(QUIET + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
