"""Keys for plugin state in ``config.stash``."""
import pytest

from harness.session import HarnessSession

SESSION_KEY = pytest.StashKey[HarnessSession]()
REPORT_DIR_KEY = pytest.StashKey[str]()
