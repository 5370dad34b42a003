"""Fixtures of suites/audit: the audited application and the one observation window every check judges.

Without ``--audit PID|FILE_PREFIX`` every check here is skipped with that reason; with it, nothing
else of the harness runs (see harness/audit/fixtures.py).
"""
import pytest

from harness.audit.fixtures import AUDIT_KEY

NO_AUDIT = ("no --audit PID given: suites/audit judges a running DPDK application "
            "(pytest suites/audit --audit PID|FILE_PREFIX)")


@pytest.fixture(autouse=True)
def _audit_given(request):
    if request.config.stash.get(AUDIT_KEY, None) is None:
        pytest.skip(NO_AUDIT)


@pytest.fixture(scope="session")
def audit_session(request):
    sess = request.config.stash.get(AUDIT_KEY, None)
    if sess is None:
        pytest.skip(NO_AUDIT)
    return sess


@pytest.fixture(scope="session")
def observed(audit_session):
    """The application over one window of audit.window_s (read once, shared by every check)."""
    from harness.errors import HarnessError

    try:
        return audit_session.observation()
    except HarnessError as exc:
        pytest.fail(f"dpdk-harness audit: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def audit_cfg(audit_session):
    """The profile's [audit] thresholds."""
    return audit_session.profile.audit


@pytest.fixture(scope="session")
def app(audit_session):
    return audit_session.app
