"""What a run leaves in the report dir: report.html, junit.xml (schema-valid), results.json.

Two runs boot EAL: one that passes, fails and skips checks; one interrupted by SIGINT while a
check holds the ports.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report import junit
from harness.system.inventory import host_inventory

RUN = """
import pytest

def test_rates(ports, measure):
    for size, pps in ((64, 1.2e6), (512, 9e5), (1518, 4e5)):
        measure(f"rx_pps_{size}B", pps, unit="pps", target=3e5, min=pps * 0.9, max=pps * 1.1)
    for q, n in enumerate((260, 250, 241, 273)):
        measure(f"rss_queue{q}_pkts", n, unit="pkts")
    measure("latency_p50_us", 3.0, unit="us")
    measure("latency_p99_us", 9.0, unit="us", target=10, op="<=")

def test_too_slow(measure):
    fig = measure("rx_pps_9000B", 1e5, unit="pps", target=2e5)
    assert fig.passed, "rx_pps_9000B below its target"

@pytest.mark.requires("rss_hash")
def test_needs_rss(ports):
    pass

def test_not_here():
    pytest.skip("one NUMA node: socket placement cannot differ")
"""


def _valid(res: dict) -> None:
    """results.json matches reports/results.schema.json (jsonschema comes with the test extra)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[2] / "reports" / "results.schema.json").read_text())
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(res)]
    assert not errors, "results.json does not match its schema:\n" + "\n".join(errors[:20])


def _props(node) -> dict[str, str]:
    props = node.find("properties")
    return {} if props is None else {p.get("name"): p.get("value") for p in props.iter("property")}


def _cases(root) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in root.iter("testcase")}


def test_a_run_leaves_html_junit_and_json(child, pytester, host_guard):
    pytester.makepyfile(test_report_run=RUN)
    out = pytester.path / "out"
    result = child.run("--report-dir", out)
    child.no_traceback(result)
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    assert result.ret == 1

    # ---- report.html: one file, nothing fetched from anywhere
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I), "external reference"
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page
    inv = host_inventory()
    for text in (inv["cpu_model"], os.uname().release, "DPDK 22.11", "net_ring", "ring_wire",
                 "Verdicts per suite", "Measured vs target", "test_too_slow", "rx_pps_9000B"):
        assert text in page, f"{text!r} not in report.html"
    assert "Skipped checks" in page
    assert "one NUMA node: socket placement cannot differ" in page
    assert "reports no RSS hash functions" in page
    assert page.count("<svg") == 3  # throughput vs frame size, RSS per-queue spread, latency percentiles
    assert "FAIL: 1 check(s) failed" in page

    # ---- junit.xml: valid for CI consumers; figures, targets, verdicts, inventory, ports
    junit.validate(out / "junit.xml")
    root = ET.parse(out / "junit.xml").getroot()
    suite = root.find("testsuite")
    sp = _props(suite)
    assert sp["cpu_model"] == inv["cpu_model"] and sp["kernel"] == os.uname().release
    assert sp["dpdk_version"].startswith("DPDK 22.11"), sp
    assert sp["port0.driver"] == "net_ring" and sp["port0.topology"] == "ring_wire", sp
    cases = _cases(root)
    rates = _props(cases["test_rates"])
    assert rates["rx_pps_64B"] == "1.2e+06" and rates["rx_pps_64B.target"] == ">= 300000"
    assert rates["rx_pps_64B.verdict"] == "PASS" and rates["latency_p99_us.verdict"] == "PASS"
    slow = cases["test_too_slow"]
    assert slow.find("failure") is not None and _props(slow)["rx_pps_9000B.verdict"] == "FAIL"
    assert cases["test_needs_rss"].find("skipped") is not None

    # ---- results.json: per-check outcome, duration, skip reasons, figures with targets and verdicts
    res = json.loads((out / "results.json").read_text())
    tests = {t["nodeid"].split("::")[-1]: t for t in res["tests"]}
    assert {n: t["outcome"] for n, t in tests.items()} == {
        "test_rates": "passed", "test_too_slow": "failed", "test_needs_rss": "skipped", "test_not_here": "skipped"}
    assert tests["test_rates"]["duration_s"] > 0
    assert "rx_pps_9000B below its target" in tests["test_too_slow"]["message"]
    assert tests["test_too_slow"]["failed_figures"] == ["rx_pps_9000B"]
    assert tests["test_not_here"]["message"] == "one NUMA node: socket placement cannot differ"
    figs = {f["name"]: f for f in res["figures"]}
    assert figs["latency_p99_us"]["target_text"] == "<= 10" and figs["latency_p99_us"]["verdict"] == "PASS"
    assert figs["rx_pps_9000B"]["verdict"] == "FAIL"
    assert {p["driver"] for p in res["ports"]} == {"net_ring"}
    assert res["inventory"]["dpdk_version"].startswith("DPDK 22.11")
    assert res["exit_status"] == 1 and res["interrupted"] is False
    _valid(res)
    host_guard()


SLOW = """
import pathlib, time

def test_first(measure):
    measure("rx_pps_64B", 1e6, unit="pps", target=5e5)

def test_busy(ports, measure):
    measure("wire_frames_sent", 10, unit="frames")
    pathlib.Path("READY").write_text("ok")
    time.sleep(60)

def test_never_reached():
    pass
"""


def test_an_interrupted_run_still_writes_every_report(child, pytester, host_guard):
    """pytest calls pytest_terminal_summary on KeyboardInterrupt (exit status 2): the reports are
    written there, marked partial, and the check that was running is an interrupted error."""
    pytester.makepyfile(test_slow=SLOW)
    out = pytester.path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--dpdk-profile={child.VDEV_PROFILE}",
                             "--report-dir", str(out), "test_slow.py"],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while not (pytester.path / "READY").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run did not reach the busy check:\n{proc.communicate()[0]}")
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=90)
    assert proc.returncode == 2, text  # pytest: interrupted
    assert "Traceback" not in text and "INTERNALERROR" not in text, text

    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] is True and res["exit_status"] == 2
    tests = {t["nodeid"]: t["outcome"] for t in res["tests"]}
    assert tests == {"test_slow.py::test_first": "passed", "test_slow.py::test_busy": "interrupted"}, res["tests"]
    assert {f["name"] for f in res["figures"]} == {"rx_pps_64B", "wire_frames_sent"}
    assert {p["driver"] for p in res["ports"]} == {"net_ring"}  # read while EAL was still up
    _valid(res)

    junit.validate(out / "junit.xml")  # pytest leaves a nameless testcase for test_busy: completed and named
    busy = _cases(ET.parse(out / "junit.xml").getroot())["test_busy"]
    assert busy.find("error").get("type") == "interrupted"

    page = (out / "report.html").read_text()
    assert "INCOMPLETE: the run was interrupted" in page
    assert "partial" in (out / "summary.md").read_text()
    host_guard()
