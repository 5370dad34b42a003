"""When is a pytest run a harness run, and which of its tests belong in the qualification report.

Installed next to other projects, the plugin is inert unless the run is asked to be a harness run
(:func:`wanted`): it collects the conformance suites (a directory whose conftest.py sets
``DPDK_HARNESS_SUITES = True``) or our own tests, an option of ours is given, or the ini setting
``dpdk_harness = true`` is set.
"""
from __future__ import annotations

import pathlib

import pytest

from harness.stash import SUITE_ROOTS_KEY

#: options whose presence on the command line makes a run a harness run (other areas add theirs, e.g. --audit)
ACTIVATING_OPTIONS = ["nic", "vdev", "dpdk_profile", "report_dir", "lcores", "baseline", "probe_fault", "audit",
                      "cpu_wait", "soak", "share_cpus"]
INI_ACTIVATE = "dpdk_harness"
#: a conftest.py that sets this marks its directory as conformance suites
SUITES_MARK = "DPDK_HARNESS_SUITES"
#: ... and this as the harness's own tests: a harness run, but no qualification (no reports by default)
OWN_TESTS_MARK = "DPDK_HARNESS_OWN_TESTS"


def runs_tests(config) -> bool:
    """False for --help, --collect-only, --markers, --fixtures: such runs write no reports."""
    o = config.option
    return not any(getattr(o, name, False) for name in
                   ("help", "version", "collectonly", "markers", "showfixtures", "show_fixtures_per_test"))


def suite_roots(config, mark: str = SUITES_MARK) -> list[pathlib.Path]:
    """Directories of the conformance suites this run loaded: those of conftest.py files that set
    ``DPDK_HARNESS_SUITES = True`` (pytest loads the conftest.py files above every path it is given
    before ``pytest_configure``); with ``mark=OWN_TESTS_MARK``, those of the harness's own tests."""
    roots = []
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, mark, False) is True and getattr(plugin, "__file__", None):
            roots.append(pathlib.Path(plugin.__file__).resolve().parent)
    return sorted(set(roots))


def asked(config) -> bool:
    """An option of ours was given, or the ini setting ``dpdk_harness`` is true."""
    if any(config.getoption(name, None) for name in ACTIVATING_OPTIONS):
        return True
    try:
        return bool(config.getini(INI_ACTIVATE))
    except ValueError:
        return False


def wanted(config) -> bool:
    """Is this a harness run? (asked for, or it collects the conformance suites or our own tests)"""
    return asked(config) or bool(suite_roots(config)) or bool(suite_roots(config, OWN_TESTS_MARK))


def _in_roots(path: pathlib.Path, roots) -> bool:
    return any(path == r or r in path.parents for r in roots)


def args_outside_suites(config, roots) -> list[str]:
    """The paths this run collects that lie outside the suites (``tests/`` of ``pytest tests/ suites/``)."""
    base = pathlib.Path(config.invocation_params.dir)
    out = []
    for arg in config.args:
        path = (base / str(arg).split("::", 1)[0]).resolve()
        if not _in_roots(path, roots):
            out.append(str(arg))
    return out


def in_scope(config, nodeid: str) -> bool:
    """Does this test belong in the qualification report? With suites in the run: only their checks."""
    roots = config.stash.get(SUITE_ROOTS_KEY, [])
    if not roots:
        return True
    return _in_roots((config.rootpath / nodeid.split("::", 1)[0]).resolve(), roots)


def refuse_xdist(config) -> None:
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "dist", "no") not in ("no", None):
        raise pytest.UsageError(
            "dpdk-harness: -n/--dist (pytest-xdist) cannot run these checks: a process boots DPDK's EAL once and "
            "owns the run's hugepages and ports, so workers would fight over them; run without -n")
