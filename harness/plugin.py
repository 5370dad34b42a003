"""pytest hooks of dpdk-harness: options, markers, report header, leak guard, summary.

Registered through the ``pytest11`` entry point, so ``pytest suites/`` works from any directory
once the package is installed. The EAL is booted lazily, by the first test that asks for it.
"""
from __future__ import annotations

import atexit
import os
import pathlib
import signal
import time

import pytest

from harness import __version__, fixtures, registry, report
from harness.errors import HarnessError
from harness.profile import check_host, default_profile_path, load_profile
from harness.report import baseline
from harness.session import HarnessSession
from harness.stash import REPORT_DIR_KEY, SESSION_KEY
from harness.system import hugepages, inventory, pci

LEAK_SETTLE_S = 2.0
# Tests of the harness point this at a fabricated sysfs tree; users never need it.
SYS_ROOT = os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys")


def pytest_addoption(parser):
    g = parser.getgroup("harness", "dpdk-harness: the deployment under test")
    g.addoption("--nic", action="append", default=[], metavar="PCI",
                help="PCI address of a NIC to qualify (repeat for a port pair); it is bound to vfio-pci "
                     "for the run and given back at exit. Refused if its netdev has addresses or routes.")
    g.addoption("--dpdk-vdev", "--vdev", dest="vdev", metavar="TOPOLOGY", default=None,
                help=f"virtual-device topology when no --nic: {registry.topology_names()} "
                     "(default: the profile's ports.topology)")
    g.addoption("--dpdk-profile", dest="profile", metavar="PATH", default=None,
                help="deployment profile (TOML); default profiles/vdev.toml "
                     "(no --profile spelling: pytest-profiling owns it)")
    g.addoption("--dpdk-report-dir", "--report-dir", dest="report_dir", metavar="DIR", default=None,
                help="where junit.xml, results.json and summary.md go (default: <rootdir>/reports)")
    g.addoption("--dpdk-lcores", "--lcores", dest="lcores", metavar="LIST", default=None,
                help="override eal.lcores, e.g. 0-1 or 0@0,1@1")
    g.addoption("--dpdk-baseline", "--baseline", dest="baseline", metavar="PATH", default=None,
                help="judge each figure against a baseline (python -m harness baseline save ...): a figure worse "
                     "than the baseline by more than --baseline-tolerance fails its check")
    g.addoption("--dpdk-baseline-tolerance", "--baseline-tolerance", dest="baseline_tolerance", metavar="FRACTION",
                type=float, default=0.05,
                help="relative change a figure may show in its worse direction (default 0.05)")
    g.addoption("--dpdk-baseline-action", "--baseline-action", dest="baseline_action", choices=("fail", "report"),
                default="fail",
                help="fail (default): a regressed figure fails its check; report: only listed in the reports")
    g.addoption("--dpdk-probe-fault", "--probe-fault", dest="probe_fault", metavar="FAULT", default=None,
                choices=sorted(probe_faults()),
                help="make the probe misbehave on purpose, to show a check fails "
                     f"(mutation tests): {', '.join(sorted(probe_faults()))}")


def probe_faults() -> dict[str, int]:
    from harness import probe
    return probe.FAULTS


def _runs_tests(config) -> bool:
    """False for --help, --collect-only, --markers, --fixtures: such runs write no reports."""
    o = config.option
    return not any(getattr(o, name, False) for name in
                   ("help", "version", "collectonly", "markers", "showfixtures", "show_fixtures_per_test"))


def _load(config):
    path = config.getoption("profile") or default_profile_path()
    prof = load_profile(path).with_overrides(
        nic=config.getoption("nic") or None,
        topology=config.getoption("vdev"),
        lcores=config.getoption("lcores"),
    )
    check_host(prof, inventory.online_cpus(SYS_ROOT),
               key="--lcores" if config.getoption("lcores") else "eal.lcores")
    for addr in prof.ports.pci:  # read-only safety checks before anything is changed
        pci.check_safe(pci.device_info(addr, sys_root=SYS_ROOT))
    return prof


_OWNER_PID = os.getpid()


def _interrupt(signum, frame):
    """SIGTERM/SIGHUP: unwind like Ctrl-C so teardown restores the host.

    Only in the process that owns the run: a forked child (pyroute2 forks for namespace work
    and stops its children with SIGTERM) must die at once, as the default action would, and
    never run our teardown or carry on as a copy of pytest.
    """
    if os.getpid() != _OWNER_PID:
        os._exit(128 + signum)
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "requires(*capabilities): SKIP unless the ports under test have them "
                                       f"({', '.join(registry.CAPABILITIES)})")
    config.addinivalue_line("markers", "allow_mbuf_leak: the test leaves mbufs in use on purpose")
    if hasattr(config, "workerinput"):
        return
    try:
        prof = _load(config)
        if config.getoption("baseline"):
            config.stash[baseline.BASELINE_KEY] = baseline.load_check(
                config.getoption("baseline"), config.getoption("baseline_tolerance"),
                config.getoption("baseline_action"))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    report_dir = config.getoption("report_dir")
    report_dir = pathlib.Path(report_dir) if report_dir else config.rootpath / "reports"
    config.stash[REPORT_DIR_KEY] = str(report_dir)
    if _runs_tests(config) and not config.option.xmlpath:
        report_dir.mkdir(parents=True, exist_ok=True)
        config.option.xmlpath = str(report_dir / "junit.xml")
    sess = HarnessSession(prof, sys_root=SYS_ROOT, probe_fault=config.getoption("probe_fault"))
    config.stash[SESSION_KEY] = sess
    config.pluginmanager.register(fixtures, "harness.fixtures")
    atexit.register(sess.close)
    global _OWNER_PID
    _OWNER_PID = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def pytest_unconfigure(config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is not None:
        for line in sess.close():
            print(f"dpdk-harness: teardown: {line}")


def pytest_report_header(config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is None:
        return None
    p = sess.profile
    try:
        from harness import probe
        dpdk = probe.dpdk_version()
    except Exception as exc:  # the header must not fail the run; the session reports it properly
        dpdk = f"unavailable ({exc})"
    if p.ports.nic_mode:
        ports = ", ".join(f"{a} ({pci.device_info(a, sys_root=SYS_ROOT).driver or 'no driver'})" for a in p.ports.pci)
        ports = f"NICs {ports}, loopback {p.ports.loopback}"
    else:
        ports = f"vdev topology {p.ports.topology}"
    pools = ", ".join(f"{pp.size_kb}kB: {pp.free}/{pp.total} free"
                      for pp in hugepages.read_pools(sys_root=SYS_ROOT) if pp.node is None)
    return [
        f"dpdk-harness {__version__}, {dpdk}",
        f"profile: {p.name} ({p.path})",
        f"ports: {ports}",
        f"lcores: {p.eal.lcores_arg()} (main {p.eal.main_lcore}); memory {p.eal.memory_mb} MB "
        f"{'hugepages' if p.eal.hugepages else 'without hugepages'}",
        f"hugepages: {pools or 'none'}",
        f"reports: {config.stash[REPORT_DIR_KEY]}",
    ] + ([f"PROBE FAULT: {config.getoption('probe_fault')} (deliberate, for mutation tests: results are not a "
          "qualification)"] if config.getoption("probe_fault") else [])


def pytest_generate_tests(metafunc):
    """``pps_target``: one test per frame size in the profile's [[targets.pps]]."""
    if "pps_target" in metafunc.fixturenames:
        sess = metafunc.config.stash[SESSION_KEY]
        targets = list(sess.profile.targets.pps)
        metafunc.parametrize("pps_target", targets, ids=[f"{t.frame_size}B" for t in targets])


@pytest.fixture(scope="session", autouse=True)
def _harness_inventory(request, record_testsuite_property):
    """Host inventory as JUnit testsuite properties."""
    sess = request.config.stash.get(SESSION_KEY, None)
    if sess is None:
        return
    for key, value in inventory.host_inventory(sys_root=SYS_ROOT).items():
        record_testsuite_property(key, value)
    record_testsuite_property("profile", sess.profile.name)
    record_testsuite_property("harness_version", __version__)
    fault = request.config.getoption("probe_fault")
    if fault:  # a deliberately broken probe: the report must say so
        record_testsuite_property("probe_fault", fault)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Leak guard: a test that leaves mbufs of the pool in use fails, naming the count."""
    sess = item.config.stash.get(SESSION_KEY, None)
    pool = sess.pool if sess is not None and sess.started else None
    before = (pool.stats().in_use, _accounted(sess)) if pool is not None else None
    result = yield
    if before is None or item.get_closest_marker("allow_mbuf_leak"):
        return result
    deadline = time.monotonic() + LEAK_SETTLE_S
    while True:
        leaked = (pool.stats().in_use - before[0]) - (_accounted(sess) - before[1])
        if leaked <= 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if leaked > 0:
        pytest.fail(f"mbuf leak: {leaked} mbufs of pool dh_pool still in use after the test "
                    f"(in use before: {before[0]}); free every mbuf rte_eth_tx_burst did not take",
                    pytrace=False)
    return result


def pytest_collection_modifyitems(config, items):
    """An unknown capability in @pytest.mark.requires is a usage error, before anything boots."""
    for item in items:
        for mark in item.iter_markers("requires"):
            unknown = [c for c in mark.args if c not in registry.CAPABILITIES]
            if unknown:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.requires({unknown[0]!r}): unknown capability; "
                    f"known: {', '.join(registry.CAPABILITIES)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """--baseline: a figure worse than the baseline beyond the tolerance fails its check.
    Every SKIP goes into the report with its reason; a skip is never counted as a pass."""
    rep = yield
    sess = item.config.stash.get(SESSION_KEY, None)
    check = item.config.stash.get(baseline.BASELINE_KEY, None)
    if check is not None:
        baseline.judge_test(item, rep, check, sess)
    if sess is not None and rep.skipped and isinstance(rep.longrepr, tuple):
        sess.skips.append((rep.nodeid, str(rep.longrepr[2]).removeprefix("Skipped: ")))
    return rep


def _accounted(sess) -> int:
    """mbufs in use for a reason: in flight on a wire, or held by started ports."""
    return sum(t.pending() + t.held_mbufs for t in sess.topologies.values())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is None:
        return
    from tabulate import tabulate

    rows = report.figure_rows(sess.figures)
    if rows:
        terminalreporter.section("dpdk-harness: measured vs target")
        terminalreporter.write_line(tabulate(rows, headers=report.HEADERS))
    if sess.skips:
        terminalreporter.section("dpdk-harness: skipped checks")
        for nodeid, reason in sess.skips:
            terminalreporter.write_line(f"{nodeid}: {reason}")
    if _runs_tests(config):
        stats = terminalreporter.stats
        outcomes = {k: len(v) for k, v in stats.items() if k in ("passed", "failed", "skipped", "error")}
        res = report.write_reports(pathlib.Path(config.stash[REPORT_DIR_KEY]), sess, outcomes, int(exitstatus),
                                   inventory.host_inventory(sys_root=SYS_ROOT), stats=stats,
                                   junit_path=config.option.xmlpath,
                                   baseline=config.stash.get(baseline.BASELINE_KEY, None))
        text = baseline.terminal_text(res)
        if text:
            terminalreporter.section("dpdk-harness: against baseline")
            terminalreporter.write_line(text)
