"""Keys for plugin state in ``config.stash``."""
import pytest

from harness.session import HarnessSession

SESSION_KEY = pytest.StashKey[HarnessSession]()
REPORT_DIR_KEY = pytest.StashKey[str]()
#: the conformance suites' directories in this run (empty: the run collects none, it was asked for)
SUITE_ROOTS_KEY = pytest.StashKey[list]()
#: why no reports are written (a run of the suites together with other tests)
NO_REPORTS_KEY = pytest.StashKey[str]()
SOAK_KEY = pytest.StashKey[float]()  # --dpdk-soak, in seconds
