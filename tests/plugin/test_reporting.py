"""What a run reports: the header, JUnit properties, results.json / summary.md, skipped checks."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from harness import __version__


def test_report_header_says_what_is_under_test(child, pytester):
    """The header needs no EAL: a test that asks for no fixture keeps this run free of DPDK."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = child.run()
    assert result.ret == 0, child.output(result)
    result.stdout.fnmatch_lines([
        f"dpdk-harness {__version__}, DPDK 22.11*",
        f"profile: vdev ({child.VDEV_PROFILE})",
        "ports: vdev topology ring_wire",
        "lcores: 0@0,1@1 (main 0); memory 256 MB hugepages",
        "hugepages: 2048kB: */* free*",
        f"reports: {pytester.path / 'reports'}",
    ])
    # the header comes before collection, as pytest's own header does
    out = result.stdout.str()
    assert out.index("dpdk-harness ") < out.index("collected 1 item")


def test_report_header_follows_the_options(child, pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = child.run("--vdev", "null_pair", "--lcores", "0-1", "--report-dir", "out")
    assert result.ret == 0, child.output(result)
    result.stdout.fnmatch_lines([
        "ports: vdev topology null_pair",
        "lcores: 0@0,1@1 (main 0)*",
        "reports: *out",
    ])


MEASURING = """
def test_figure(ports, measure):
    measure("x_pps", 123.0, unit="pps", target=100)
    measure("y_pps", 50.0, unit="pps", target=100)
"""


def test_figures_reach_junit_json_markdown_and_the_terminal(child, pytester, host_guard):
    pytester.makepyfile(test_measuring=MEASURING)
    out_dir = pytester.path / "out"
    result = child.run("--report-dir", out_dir)
    assert result.ret == 0, child.output(result)
    child.no_traceback(result)
    result.assert_outcomes(passed=1)

    # JUnit: figures are testcase properties (record_property), the host is testsuite properties
    root = ET.parse(out_dir / "junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    case = suite.find("testcase[@name='test_figure']")
    assert case is not None, ET.tostring(root, encoding="unicode")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["x_pps"] == "123", props
    assert props["x_pps.unit"] == "pps", props
    assert props["x_pps.target"] == ">= 100", props
    assert props["y_pps"] == "50", props
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties").iter("property")}
    for key in ("cpu_model", "kernel", "harness_version", "profile"):
        assert key in suite_props, f"testsuite property {key} missing: {suite_props}"
    assert suite_props["kernel"] == os.uname().release
    assert suite_props["harness_version"] == __version__
    assert suite_props["profile"] == "vdev"

    # results.json and summary.md
    results = json.loads((out_dir / "results.json").read_text())
    figures = {f["name"]: f for f in results["figures"]}
    assert figures["x_pps"]["value"] == 123.0 and figures["x_pps"]["passed"] is True, figures
    assert figures["y_pps"]["value"] == 50.0 and figures["y_pps"]["passed"] is False, figures
    assert {k: v for k, v in results["outcomes"].items() if v} == {"passed": 1}, results["outcomes"]
    assert results["profile"]["name"] == "vdev"
    summary = (out_dir / "summary.md").read_text()
    assert "x_pps" in summary and "123" in summary, summary
    assert "1 passed" in summary, summary

    # the terminal table: measured vs target, with a verdict per figure
    result.stdout.fnmatch_lines([
        "*dpdk-harness: measured vs target*",
        "check*figure*measured*unit*target*verdict*",
        "test_figure*x_pps*123*pps*>= 100*PASS*",
        "test_figure*y_pps*50*pps*>= 100*FAIL*",
    ])
    assert not (pytester.path / "reports").exists(), "--report-dir was not honoured"
    host_guard()


CAPABILITIES = """
import pytest

@pytest.mark.requires("rss_hash")
def test_needs_rss(ports):
    pass
"""

UNKNOWN_CAPABILITY = """
import pytest

@pytest.mark.requires("warp_drive")
def test_unknown_capability(ports):
    pass
"""


def test_missing_capability_is_a_skip_naming_device_and_capability(child, pytester, host_guard):
    pytester.makepyfile(test_caps=CAPABILITIES)
    out_dir = pytester.path / "out"
    result = child.run("-rs", "--report-dir", out_dir)
    result.assert_outcomes(skipped=1)

    # the SKIP reason names the device (its driver) and what it lacks
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] test_caps.py:*: *net_ring*: net_ring * reports no RSS hash*"])
    result.stdout.fnmatch_lines([
        "*dpdk-harness: skipped checks*",
        "test_caps.py::test_needs_rss: *(net_ring)*net_ring * reports no RSS hash*",
    ])
    summary = (out_dir / "summary.md").read_text()
    assert "## Skipped checks" in summary, summary
    assert "`test_caps.py::test_needs_rss`" in summary and "RSS hash" in summary, summary
    skips = json.loads((out_dir / "results.json").read_text())["skips"]
    assert [s["check"] for s in skips] == ["test_caps.py::test_needs_rss"], skips

    host_guard()


def test_unknown_capability_is_a_usage_error_before_anything_boots(child, pytester, host_guard):
    pytester.makepyfile(test_caps=UNKNOWN_CAPABILITY)
    child.usage_error(child.run(), "test_caps.py::test_unknown_capability",
                      "requires('warp_drive'): unknown capability; known: wire, payload, multi_queue, "
                      "rss_hash, rss_reta, kernel_fed, numa")
    host_guard()


def test_collect_only_leaves_the_last_reports_alone(child, pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    reports = pytester.path / "reports"
    reports.mkdir()
    previous = {name: f"the previous run's {name}\n" for name in ("junit.xml", "results.json", "summary.md")}
    for name, text in previous.items():
        (reports / name).write_text(text)
    result = child.run("--collect-only", "-q")
    assert result.ret == 0, child.output(result)
    assert {name: (reports / name).read_text() for name in previous} == previous
