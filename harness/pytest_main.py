"""``python -m harness.pytest_main ARGS``: pytest, with Ctrl-C handled from the first instant.

What ``./harness.sh suites`` and ``./harness.sh test`` run. Importing :mod:`harness.interrupts`
before pytest means a Ctrl-C while pytest itself is still loading is held until the session
starts, so even a run stopped in its first second writes its reports (marked interrupted).
"""
from harness import interrupts  # noqa: F401  (installs the handler)

# isort: split
import sys

import pytest

#: harness is imported before pytest (above), so pytest cannot rewrite its asserts and says so on every
#: run; nothing of harness relies on assert rewriting (the suites, which do, are imported by pytest)
QUIET = ["-W", "ignore:Module already imported so cannot be rewritten; harness:pytest.PytestAssertRewriteWarning"]

if __name__ == "__main__":
    sys.exit(pytest.main(QUIET + sys.argv[1:]))
