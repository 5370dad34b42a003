"""``--audit PID|FILE_PREFIX``: bad input is one line and exit 4; an audit boots no EAL, changes nothing on the
host, leaves the application running, and its reports name the application. Without --audit, `pytest suites/`
leaves suites/audit out, and naming it skips its checks with the reason. The applications are real dpdk-testpmd instances on net_null vdevs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "audit"
sys.path.insert(0, str(REPO / "tests" / "mutations"))
from audit_apps import start_app  # noqa: E402

WINDOW_S = 1.0
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (dpdk-testpmd)")


@pytest.fixture
def audit_profile(pytester) -> Path:
    path = pytester.path / "audit.toml"
    path.write_text(f"name = \"audit\"\n[audit]\nwindow_s = {WINDOW_S}\nrequire_hugepages = false\n"
                    "max_neighbour_cpu_share = 1.0\n")
    return path


@pytest.fixture
def app():
    """A sound testpmd without hugepages (nothing to reserve, so the host snapshot after it is stable)."""
    a = start_app(null_pair=True, hugepages_=False)
    yield a
    a.close()


def test_without_audit_the_suite_is_skipped_with_the_reason(child, pytester, host_guard):
    result = child.run(SUITE, "-rs", f"--dpdk-report-dir={pytester.path / 'reports'}")
    out = child.output(result)
    assert result.ret == 0, out
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 10 and not outcomes.get("passed") and not outcomes.get("failed"), out
    result.stdout.fnmatch_lines(["*no --audit PID given*pytest suites/audit --audit PID|FILE_PREFIX*"])
    host_guard()


def test_a_qualification_run_leaves_the_audit_suite_out(child):
    """``pytest suites/`` without --audit collects the qualification checks only: no audit skips in its report."""
    result = child.run(str(SUITE.parent), "--collect-only", "-q")
    out = child.output(result)
    assert result.ret == 0, out
    assert "suites/zero_copy" in out and "suites/audit" not in out, out


def test_a_process_that_is_not_dpdk(child):
    p = subprocess.Popen(["sleep", "60"])
    try:
        result = child.run(SUITE, "--dpdk-audit", p.pid)
    finally:
        p.kill()
        p.wait()
    child.usage_error(result, f"--audit {p.pid}", "sleep", "is not a DPDK application", "give the pid")


def test_a_dead_pid(child):
    p = subprocess.Popen(["true"])
    p.wait()
    result = child.run(SUITE, "--dpdk-audit", p.pid)
    child.usage_error(result, f"--audit {p.pid}", "no process", "give the pid")


def test_a_prefix_without_an_application(child):
    result = child.run(SUITE, "--dpdk-audit", "dh-no-such-prefix")
    child.usage_error(result, "--audit dh-no-such-prefix", "no DPDK runtime directory")


@needs_root
def test_an_application_without_telemetry(child):
    with start_app(null_pair=True, hugepages_=False, eal_extra=["--no-telemetry"], wait_socket=False) as app:
        result = child.run(SUITE, "--dpdk-audit", app.pid)
        alive = app.tp.proc.poll() is None
    child.usage_error(result, f"--audit {app.pid}", "--no-telemetry", "restart it without --no-telemetry")
    assert alive


@needs_root
def test_two_applications_on_one_prefix(child):
    prefix = f"dh-tp-{os.getpid()}-shared"
    with start_app(null_pair=True, hugepages_=False, prefix=prefix) as first, \
            start_app(null_pair=True, hugepages_=False, prefix=prefix, wait_socket=False) as second:
        by_prefix = child.run(SUITE, "--dpdk-audit", prefix)
        by_pid = child.run(SUITE, "--dpdk-audit", second.pid)
    for result in (by_prefix, by_pid):
        child.usage_error(result, "two applications use --file-prefix", prefix, str(first.pid), str(second.pid),
                          "its own --file-prefix")


@needs_root
def test_an_audit_changes_nothing_and_names_the_application(child, pytester, app, host_guard, audit_profile):
    """``app`` is started before ``host_guard`` takes its snapshot: the audit itself must change nothing."""
    reports = pytester.path / "reports"
    t0 = time.monotonic()
    result = child.run(SUITE, "--dpdk-audit", app.pid, f"--dpdk-report-dir={reports}", profile=audit_profile)
    took = time.monotonic() - t0
    out = child.output(result)
    assert result.ret == 0, out
    child.no_traceback(result)
    result.stdout.fnmatch_lines([f"*AUDIT (read-only) of dpdk-testpmd, pid {app.pid}, DPDK *",
                                 "*application: *dpdk-testpmd*--file-prefix*", "*window: 1 s*"])
    assert app.tp.proc.poll() is None, "the audited application died"
    host_guard()
    res = json.loads((reports / "results.json").read_text())
    inv = res["inventory"]
    assert inv["audited_pid"] == str(app.pid) and "dpdk-testpmd" in inv["audited_cmdline"], inv
    assert inv["audited_dpdk_version"].startswith("DPDK "), inv
    assert any(p.get("name") == "net_null0" for p in res["ports"]), res["ports"]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REPO / "reports" / "results.schema.json").read_text())
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(res)]
    assert not errors, "results.json of an audit does not match the schema:\n" + "\n".join(errors[:20])
    junit = (reports / "junit.xml").read_text()
    assert f'name="audited_pid" value="{app.pid}"' in junit
    assert "audited_cmdline" in (reports / "report.html").read_text()
    # the window plus pytest's own start-up: an audit never waits on anything else
    assert took < WINDOW_S + 10, f"the audit took {took:.1f} s for a {WINDOW_S} s window"


@needs_root
def test_an_audit_run_skips_every_other_suite(child, pytester, app, audit_profile):
    result = child.run(REPO / "suites" / "ports", "-rs", "--dpdk-audit", app.pid,
                       f"--dpdk-report-dir={pytester.path / 'reports'}", profile=audit_profile)
    out = child.output(result)
    assert result.ret == 0, out
    assert not result.parseoutcomes().get("passed"), out
    result.stdout.fnmatch_lines(["*--audit run: only suites/audit is run*"])


def test_audit_refuses_options_of_the_harness_s_own_run(child):
    result = child.run(SUITE, "--dpdk-audit", "1", "--dpdk-lcores", "0-1")
    child.usage_error(result, "--audit 1 with --dpdk-lcores", "drop --dpdk-lcores")


@needs_root
def test_an_application_is_found_by_its_file_prefix(child, pytester, app, audit_profile):
    result = child.run(SUITE, "--dpdk-audit", app.prefix, f"--dpdk-report-dir={pytester.path / 'reports'}",
                       profile=audit_profile)
    assert result.ret in (0, 1), child.output(result)  # 1: a busy shared host may fail a check; it ran
    child.no_traceback(result)
    result.stdout.fnmatch_lines([f"*AUDIT (read-only) of dpdk-testpmd, pid {app.pid}, *",
                                 f"*telemetry: /var/run/dpdk/{app.prefix}/dpdk_telemetry.v2*"])
