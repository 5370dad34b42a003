"""pytest hooks of dpdk-harness: options, markers, report header, leak guard, summary.

Registered through the ``pytest11`` entry point, so ``pytest suites/`` works from any directory
once the package is installed. The EAL is booted lazily, by the first test that asks for it.

Installed next to other projects, the plugin is inert: it loads no profile, boots nothing, prints no
header and writes no report unless the run is asked to be a harness run (see :func:`wanted`): it
collects the conformance suites (a directory whose conftest.py sets ``DPDK_HARNESS_SUITES = True``),
an option of ours is given, or the ini setting ``dpdk_harness = true`` is set.
"""
from __future__ import annotations

from harness import interrupts  # first: Ctrl-C from here on is handled (see harness/interrupts.py)

# isort: split
import atexit
import contextlib
import os
import pathlib
import signal
import time

import pytest

from harness import __version__, fixtures, preflight, registry, report
from harness.activation import (
    INI_ACTIVATE,
    OWN_TESTS_MARK,
    args_outside_suites,
    in_scope,
    refuse_xdist,
    runs_tests,
    suite_roots,
    wanted,
)
from harness.errors import BringUpError, HarnessError, OverloadedTesterError, UsageError
from harness.profile import default_profile_path, load_profile, warnings_for
from harness.report import baseline
from harness.session import HarnessSession
from harness.stash import NO_REPORTS_KEY, REPORT_DIR_KEY, SESSION_KEY, SOAK_KEY, SUITE_ROOTS_KEY
from harness.system import hugepages, inventory, lease, pci

LEAK_SETTLE_S = 2.0
# Tests of the harness point this at a fabricated sysfs tree; users never need it.
SYS_ROOT = os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys")
PROC_ROOT = os.environ.get("DPDK_HARNESS_PROC_ROOT", "/proc")


def pytest_addoption(parser):
    parser.addini(INI_ACTIVATE, type="bool", default=False,
                  help="dpdk-harness: make every run here a harness run (profile, EAL, reports), also when it "
                       "collects no conformance suite")
    g = parser.getgroup("harness", "dpdk-harness: the deployment under test")
    g.addoption("--nic", action="append", default=[], metavar="PCI",
                help="PCI address of a NIC to qualify (repeat for a port pair); it is bound to vfio-pci "
                     "for the run and given back at exit. Refused if its netdev has addresses or routes.")
    g.addoption("--dpdk-vdev", "--vdev", dest="vdev", metavar="TOPOLOGY", default=None,
                help=f"virtual-device topology when no --nic: {registry.topology_names()} "
                     "(default: the profile's ports.topology)")
    g.addoption("--dpdk-profile", dest="dpdk_profile", metavar="PATH", default=None,
                help="deployment profile (TOML); default profiles/vdev.toml "
                     "(no --profile spelling: pytest-profiling owns it)")
    g.addoption("--dpdk-report-dir", "--report-dir", dest="report_dir", metavar="DIR", default=None,
                help="where junit.xml, results.json and summary.md go (default: <rootdir>/reports)")
    g.addoption("--dpdk-lcores", "--lcores", dest="lcores", metavar="LIST", default=None,
                help="override eal.lcores, e.g. 0-1 or 0@0,1@1")
    g.addoption("--dpdk-cpu-wait", dest="cpu_wait", metavar="SECONDS", type=float, default=None,
                help="how long to wait for a data-plane CPU another dpdk-harness run holds, then refuse "
                     f"(default {lease.DEFAULT_TIMEOUT_S:.0f}; 0 refuses at once)")
    g.addoption("--dpdk-share-cpus", dest="share_cpus", action="store_true", default=False,
                help="take no CPU lease: share data-plane CPUs with other dpdk-harness runs (functional checks on a "
                     "shared machine; rates and context-switch figures then say little)")
    g.addoption("--dpdk-soak", dest="soak", metavar="DURATION", default=None,
                help="soak: run suites/soak's lifecycle checks (mbuf leak slope, rx_nombuf/imissed rates, context "
                     "switches, pool headroom) under continuous traffic for DURATION, e.g. 2m or 1h")
    g.addoption("--dpdk-baseline", "--baseline", dest="baseline", metavar="PATH", default=None,
                help="judge each figure against a baseline (python -m harness baseline save ...): a figure worse "
                     "than the baseline by more than --baseline-tolerance fails its check")
    g.addoption("--dpdk-baseline-tolerance", "--baseline-tolerance", dest="baseline_tolerance", metavar="FRACTION",
                type=float, default=0.05,
                help="relative change a figure may show in its worse direction (default 0.05)")
    g.addoption("--dpdk-baseline-action", "--baseline-action", dest="baseline_action", choices=("fail", "report"),
                default="fail",
                help="fail (default): a regressed figure fails its check; report: only listed in the reports")
    g.addoption("--dpdk-audit", "--audit", dest="audit", metavar="PID|FILE_PREFIX", default=None,
                help="audit a running DPDK application (pytest suites/audit --audit PID): read-only, through its "
                     "telemetry socket and /proc; no EAL is booted, nothing on the host is changed")
    g.addoption("--dpdk-probe-fault", "--probe-fault", dest="probe_fault", metavar="FAULT", default=None,
                choices=sorted(probe_faults()),
                help="make the probe misbehave on purpose, to show a check fails "
                     f"(mutation tests): {', '.join(sorted(probe_faults()))}")


def probe_faults() -> dict[str, int]:
    from harness import probe
    return probe.FAULTS


def _load(config):
    wait = config.getoption("cpu_wait")
    if wait is not None and not 0 <= wait <= 86400:
        raise UsageError(f"--dpdk-cpu-wait: {wait:g} is not a number of seconds from 0 to 86400; "
                         "pass e.g. --dpdk-cpu-wait 60 (0 refuses at once)")
    if config.getoption("soak") is not None:
        from harness.soak import model as soak_model
        config.stash[SOAK_KEY] = soak_model.parse_duration(config.getoption("soak"))
    path = config.getoption("dpdk_profile") or default_profile_path()
    # validated as it will run: --nic gives the PCI addresses a NIC profile may leave out
    prof = load_profile(
        path,
        nic=config.getoption("nic") or None,
        topology=config.getoption("vdev"),
        lcores=config.getoption("lcores"),
    )
    # read-only preflight: CPUs this process was given, hugepages, extra_args (nothing changed yet)
    preflight.run(prof, lcores_key="--dpdk-lcores" if config.getoption("lcores") else "eal.lcores",
                  sys_root=SYS_ROOT, proc_root=PROC_ROOT)
    for addr in prof.ports.pci:  # read-only safety checks before anything is changed
        pci.check_safe(pci.device_info(addr, sys_root=SYS_ROOT))
    return prof


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    interrupts.Stop.started = True


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    """A Ctrl-C held while pytest was starting stops the run here, where its reports still get written."""
    if interrupts.Stop.pending:
        raise KeyboardInterrupt("interrupted while starting")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    interrupts.Stop.tearing_down = True


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not wanted(config):
        interrupts.release()
        return  # installed next to another project: change nothing there
    config.addinivalue_line("markers", "requires(*capabilities): SKIP unless the ports under test have them "
                                       f"({', '.join(registry.CAPABILITIES)})")
    config.addinivalue_line("markers", "allow_mbuf_leak: the test leaves mbufs in use on purpose")
    config.addinivalue_line("markers", "audit: a check of suites/audit (judges the application given with --audit)")
    config.addinivalue_line("markers", "owns_bringup: the check that reports a failed bring-up of the ports under "
                                       "test (suites/ports); every other check needing them is skipped naming it")
    if hasattr(config, "workerinput"):
        return
    refuse_xdist(config)
    if config.getoption("audit"):  # read-only audit of a running application: no EAL, no host changes
        return _configure_audit(config)
    try:
        prof = _load(config)
        if config.getoption("baseline"):
            config.stash[baseline.BASELINE_KEY] = baseline.load_check(
                config.getoption("baseline"), config.getoption("baseline_tolerance"),
                config.getoption("baseline_action"))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    roots = suite_roots(config)
    config.stash[SUITE_ROOTS_KEY] = roots
    report_dir = config.getoption("report_dir")
    own = [str(r) for r in suite_roots(config, OWN_TESTS_MARK)] if not report_dir else []
    outside = own or (args_outside_suites(config, roots) if roots and not report_dir else [])
    if outside:
        # ``pytest tests/ suites/`` (./harness.sh test): the harness's own tests are no qualification, and
        # reports/ keeps what the last suites run wrote
        config.stash[REPORT_DIR_KEY] = ""
        config.stash[NO_REPORTS_KEY] = (f"reports not written: this run collects tests outside the suites "
                                        f"({', '.join(outside)}); run the suites alone or give --dpdk-report-dir")
    else:
        report_dir = pathlib.Path(report_dir) if report_dir else config.rootpath / "reports"
        config.stash[REPORT_DIR_KEY] = str(report_dir)
        if runs_tests(config) and not config.option.xmlpath:
            report_dir.mkdir(parents=True, exist_ok=True)
            config.option.xmlpath = str(report_dir / "junit.xml")
    for line in warnings_for(prof):  # allowed but almost certainly not meant: said before anything runs
        config.issue_config_time_warning(UserWarning(f"dpdk-harness: profile {prof.name}: {line}"), stacklevel=2)
    wait = config.getoption("cpu_wait")
    sess = HarnessSession(prof, sys_root=SYS_ROOT, proc_root=PROC_ROOT, probe_fault=config.getoption("probe_fault"),
                          cpu_wait_s=lease.DEFAULT_TIMEOUT_S if wait is None else wait,
                          share_cpus=config.getoption("share_cpus"))
    sess.on_step = _step_printer(config)
    # one inventory for every output (header, junit.xml, results.json, report.html): the host as found
    sess.inventory = inventory.host_inventory(sys_root=SYS_ROOT)
    sess.say = lambda line: _tell(config, line)
    config.stash[SESSION_KEY] = sess
    config.pluginmanager.register(fixtures, "harness.fixtures")
    atexit.register(sess.close)
    interrupts.OWNER_PID = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupts.handle)


def _step_printer(config):
    """A line per setup step with its time, on the terminal even while pytest captures output."""

    def line(what: str, seconds: float) -> None:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None or config.option.verbose < 0:
            return
        capture = config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            tr.ensure_newline()
            tr.write_line(f"dpdk-harness: setup: {what}: {seconds:.2f} s")

    return line


def _configure_audit(config) -> None:
    """``--audit PID|FILE_PREFIX``: judge a running application; the session never boots EAL."""
    from harness.audit import fixtures as audit_fixtures

    audit_fixtures.configure(config, SYS_ROOT)
    config.stash[SUITE_ROOTS_KEY] = suite_roots(config)  # the reports cover the suites' checks only
    config.pluginmanager.register(fixtures, "harness.fixtures")  # measure, profile (nothing here boots)


def _tell(config, line: str) -> None:
    """A line for the user's terminal now, even from inside a fixture (past pytest's capture)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    ctx = capman.global_and_fixture_disabled() if capman is not None else None
    if ctx is None:
        interrupts.say(line)
        return
    with ctx:
        interrupts.say(line)


def pytest_unconfigure(config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is not None:
        for line in sess.close():
            print(f"dpdk-harness: teardown: {line}")


def pytest_report_header(config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is None:
        return None
    if getattr(sess, "audit", False):
        return [f"dpdk-harness {__version__}"] + sess.header() + [f"reports: {config.stash[REPORT_DIR_KEY]}"]
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
        f"reports: {config.stash[REPORT_DIR_KEY] or config.stash.get(NO_REPORTS_KEY, 'none')}",
    ] + [f"WARNING: {line}" for line in warnings_for(p)] + (
        [f"EMULATED NIC: {inventory.emulated_nic()} (the emulated-NIC lab): not a hardware qualification"]
         if inventory.emulated_nic() else []) + (
        [f"PROBE FAULT: {config.getoption('probe_fault')} (deliberate, for mutation tests: results are not a "
          "qualification)"] if config.getoption("probe_fault") else [])


def pytest_generate_tests(metafunc):
    """``pps_target``: one test per frame size in the profile's [[targets.pps]]."""
    sess = metafunc.config.stash.get(SESSION_KEY, None)
    if sess is not None and "pps_target" in metafunc.fixturenames:
        targets = list(sess.profile.targets.pps)
        metafunc.parametrize("pps_target", targets, ids=[f"{t.frame_size}B" for t in targets])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Leak guard: a test that leaves mbufs of the pool in use fails, naming the count. It runs for
    checks that failed or raised too (the leak is added to their report), and after a leak the pool
    is restored where it can be, or later pool-dependent checks are marked not judgeable."""
    sess = item.config.stash.get(SESSION_KEY, None)
    pool = sess.pool if sess is not None and sess.started else None
    before = (pool.stats().in_use, _accounted(sess)) if pool is not None else None
    guarded = before is not None and not item.get_closest_marker("allow_mbuf_leak")
    try:
        result = yield
    except BaseException:
        if guarded:
            msg = _leak_check(item, sess, pool, before)
            if msg:
                item.stash[LEAK_KEY] = msg
        raise
    if guarded:
        msg = _leak_check(item, sess, pool, before)
        if msg:
            pytest.fail(msg, pytrace=False)
    return result


LEAK_KEY = pytest.StashKey[str]()


def _leak_check(item, sess, pool, before) -> str | None:
    """None, or the one-line leak verdict (after trying to give the pool back what the check took)."""
    try:
        deadline = time.monotonic() + LEAK_SETTLE_S
        parked = None
        while True:
            leaked = (pool.stats().in_use - before[0]) - (_accounted(sess) - before[1]) - (parked or 0)
            if leaked > 0 and parked is None:  # NIC tx rings park sent mbufs until their PMD cleans up
                parked = sum(t.reclaim_tx() for t in sess.topologies.values())
                continue
            if leaked <= 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if leaked <= 0:
            return None
        recovered = pool.release()  # mbufs the check took with Mempool.hold() and never gave back
        left = max(0, leaked - recovered)
    except HarnessError as exc:  # the pool itself is gone: say so, do not hide the check's own verdict
        return f"mbuf leak guard: cannot read pool dh_pool after {item.name}: {exc}"
    msg = (f"mbuf leak: {item.name} left {leaked} mbufs of pool dh_pool in use (in use before: {before[0]})"
           + (f"; {recovered} held mbufs were given back" if recovered else "")
           + "; free every mbuf rte_eth_tx_burst did not take, and give back what a check takes in a finally")
    sess.leaks.append(msg)
    if left:
        from harness.mempool import pipeline_terms
        from harness.topology import profile_port_count
        need = sum(t.mbufs for t in pipeline_terms(sess.profile, profile_port_count(sess.profile),
                                                   len(sess.profile.eal.lcores)))
        size = pool.stats().size
        lost = pool.stats().in_use - _accounted(sess)  # in use for no reason: leaked for good
        if size - max(0, lost) < need and sess.pool_unjudgeable is None:
            sess.pool_unjudgeable = (f"{item.name} leaked {left} mbufs of pool dh_pool: {size - max(0, lost)} of its "
                                     f"{size} remain, below the {need} the pipeline needs (mempool.mbufs), so checks "
                                     "that take mbufs from it cannot be judged")
    return msg


@pytest.fixture(scope="session")
def soak_s(request) -> float:
    """The --dpdk-soak duration in seconds."""
    return request.config.stash[SOAK_KEY]


def pytest_collection_modifyitems(config, items):
    """An unknown capability in @pytest.mark.requires is a usage error, before anything boots.
    Without --dpdk-soak the soak check is deselected (not skipped: it was not asked for)."""
    sess = config.stash.get(SESSION_KEY, None)
    if sess is None:
        return
    if isinstance(sess, HarnessSession):  # an audit's session has no ports of ours to bring up
        sess.bringup_owner_collected = any(i.get_closest_marker("owns_bringup") for i in items)
    if SOAK_KEY not in config.stash:
        soak = [i for i in items if "soak_s" in getattr(i, "fixturenames", ())]
        if soak:
            if len(soak) == len(items):
                raise pytest.UsageError("suites/soak runs only with --dpdk-soak DURATION; pass e.g. --dpdk-soak 2m")
            config.hook.pytest_deselected(items=soak)
            items[:] = [i for i in items if i not in soak]
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
    if call.when == "call" and LEAK_KEY in item.stash:
        msg = item.stash[LEAK_KEY]
        if isinstance(rep.longrepr, str):
            rep.longrepr += f"\n{msg}"
        elif hasattr(rep.longrepr, "addsection"):
            rep.longrepr.addsection("dpdk-harness mbuf leak", msg)
        else:
            rep.sections.append(("dpdk-harness mbuf leak", msg))
    if call.excinfo is not None and call.excinfo.errisinstance(BringUpError) and isinstance(sess, HarnessSession):
        _bringup_verdict(item, rep, call.excinfo.value, sess)
    if call.excinfo is not None and call.excinfo.errisinstance(OverloadedTesterError):
        # the tester, not the device, could not keep up: an ERROR naming that, never a device FAIL
        rep.longrepr = str(call.excinfo.value)
        rep.tester_overloaded = True
        if isinstance(sess, HarnessSession):
            sess.overloaded.append(item.nodeid)
    check = item.config.stash.get(baseline.BASELINE_KEY, None)
    if check is not None:
        baseline.judge_test(item, rep, check, sess)
    if sess is not None and rep.skipped and isinstance(rep.longrepr, tuple):
        sess.skips.append((rep.nodeid, str(rep.longrepr[2]).removeprefix("Skipped: ")))
    return rep


def _bringup_verdict(item, rep, err, sess) -> None:
    """A failed bring-up is reported ONCE: by the check that owns it (suites/ports), or by the first
    check that met it when the owner does not run or the ports are not the profile's own; every other
    check that needed those ports is SKIPPED naming that cause."""
    cause = err.cause or str(err)
    owner = item.get_closest_marker("owns_bringup") is not None
    reporter = sess.bringup_reported.get(cause)
    owner_will = sess.bringup_owner_collected and sess.bringup_failed(cause)
    if owner or (reporter in (None, item.nodeid) and not owner_will):
        sess.bringup_reported.setdefault(cause, item.nodeid)
        rep.longrepr = str(err)
        return
    by = "the ports check (suites/ports)" if owner_will else reporter
    rep.outcome = "skipped"
    rep.longrepr = (str(item.path), item.location[1] or 0,
                    f"Skipped: not judgeable: the ports under test did not come up ({err}); reported by {by}")


POOL_FIXTURES = ("pool", "ports", "topology_of", "dut_path")


def pytest_runtest_setup(item):
    """After a leak the pool cannot give back, checks that take mbufs from it are not judgeable."""
    sess = item.config.stash.get(SESSION_KEY, None)
    if not isinstance(sess, HarnessSession) or not sess.pool_unjudgeable:
        return
    if any(f in item.fixturenames for f in POOL_FIXTURES):
        pytest.skip(f"not judgeable: {sess.pool_unjudgeable}")


def pytest_report_teststatus(report, config):
    """A check the tester could not judge (tester overloaded) is an ERROR, not a FAIL."""
    if getattr(report, "tester_overloaded", False) and report.failed:
        return "error", "E", ("ERROR", {"red": True})
    return None


def _accounted(sess) -> int:
    """mbufs in use for a reason: in flight on a wire, or held by started ports."""
    return sum(t.pending() + t.held_mbufs for t in sess.topologies.values())


def _invocation(config) -> dict:
    """How this run was started, for the "re-run" line of the reports."""
    import sys

    return {"dir": str(config.invocation_params.dir), "args": list(config.invocation_params.args),
            "argv": list(sys.argv)}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    sess = config.stash.get(SESSION_KEY, None)
    if sess is None:
        return
    from tabulate import tabulate

    if config.stash.get(SUITE_ROOTS_KEY, []):  # the table and the skips cover the suites' checks only
        figures = [f for f in sess.figures if in_scope(config, f.test)]
        skips = [s for s in sess.skips if in_scope(config, s[0])]
    else:
        figures, skips = sess.figures, sess.skips

    rows = report.figure_rows(figures)
    if rows:
        terminalreporter.section("dpdk-harness: measured vs target")
        terminalreporter.write_line(tabulate(rows, headers=report.HEADERS))
    if getattr(sess, "leaks", None):
        terminalreporter.section("dpdk-harness: mbuf leaks")
        after = [f"not judgeable afterwards: {sess.pool_unjudgeable}"] if sess.pool_unjudgeable else []
        for line in sess.leaks + after:
            terminalreporter.write_line(line)
    if skips:
        terminalreporter.section("dpdk-harness: skipped checks")
        for nodeid, reason in skips:
            terminalreporter.write_line(f"{nodeid}: {reason}")
    if runs_tests(config) and not config.stash[REPORT_DIR_KEY]:
        if config.stash.get(SUITE_ROOTS_KEY, []):  # say so when suites ran: a user may look for their reports
            terminalreporter.write_line(f"dpdk-harness: {config.stash[NO_REPORTS_KEY]}")
    elif runs_tests(config):
        stats = terminalreporter.stats
        res = report.write_reports(pathlib.Path(config.stash[REPORT_DIR_KEY]), sess, None, int(exitstatus),
                                   sess.inventory, stats=stats, junit_path=config.option.xmlpath,
                                   baseline=config.stash.get(baseline.BASELINE_KEY, None),
                                   in_scope=lambda nodeid: in_scope(config, nodeid),
                                   invocation=_invocation(config))
        text = baseline.terminal_text(res)
        if text:
            terminalreporter.section("dpdk-harness: against baseline")
            terminalreporter.write_line(text)
