"""pytest side of ``--audit PID|FILE_PREFIX``: set up an audit run, and keep it read-only.

Registered by harness/plugin.py only when ``--audit`` is given, in place of the normal session:
no EAL boots, no hugepages are reserved, nothing is bound, the application is never signalled.
The suites' data fixtures live in suites/audit/conftest.py (they read :data:`AUDIT_KEY`).
"""
from __future__ import annotations

import pathlib

import pytest

from harness.errors import HarnessError
from harness.profile import default_profile_path, load_profile
from harness.stash import REPORT_DIR_KEY, SESSION_KEY
from harness.system import inventory

AUDIT_MARK = "audit"
AUDIT_KEY = pytest.StashKey[object]()


def configure(config, sys_root: str = "/sys"):
    """The audit-mode part of pytest_configure: find the application (bad input -> exit 4, one line),
    point the reports at the report dir, stash the session. Returns the session."""
    from harness.audit.run import AuditSession

    spec = config.getoption("audit")
    theirs = (("--nic", "nic"), ("--dpdk-vdev", "vdev"), ("--dpdk-lcores", "lcores"),
              ("--dpdk-probe-fault", "probe_fault"))
    for opt, dest in theirs:
        given = config.getoption(dest)
        if given:
            raise pytest.UsageError(f"--audit {spec} with {opt}: an audit judges the running application as it is and "
                                    f"runs nothing of the harness's own; drop {opt}")
    try:
        prof = load_profile(config.getoption("dpdk_profile") or default_profile_path())
        sess = AuditSession.open(prof, config.getoption("audit"), sys_root=sys_root)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    sess.inventory = inventory.host_inventory(sys_root=sys_root)
    report_dir = config.getoption("report_dir")
    report_dir = pathlib.Path(report_dir) if report_dir else config.rootpath / "reports"
    config.stash[REPORT_DIR_KEY] = str(report_dir)
    o = config.option
    runs = not any(getattr(o, n, False) for n in ("help", "version", "collectonly", "markers", "showfixtures"))
    if runs and not o.xmlpath:
        report_dir.mkdir(parents=True, exist_ok=True)
        o.xmlpath = str(report_dir / "junit.xml")
    config.stash[SESSION_KEY] = sess
    config.stash[AUDIT_KEY] = sess
    import sys
    config.pluginmanager.register(sys.modules[__name__], "harness.audit.fixtures")
    return sess


# ---------------------------------------------------------------- hooks and fixtures of audit runs only


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Only suites/audit runs: every other check needs an EAL of the harness's own, which an audit
    never boots."""
    skip = pytest.mark.skip(reason="--audit run: only suites/audit is run (this check boots the harness's "
                                   "own EAL, which an audit never does)")
    for item in items:
        if item.get_closest_marker(AUDIT_MARK) is None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _audited_application(request, record_testsuite_property):
    """The audited application as JUnit testsuite properties."""
    sess = request.config.stash[AUDIT_KEY]
    for key, value in sess.report_inventory().items():
        record_testsuite_property(key, value)
