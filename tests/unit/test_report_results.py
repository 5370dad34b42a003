"""results.json, summary.md and the junit.xml completion, on synthetic figures (no DPDK, no root)."""
from __future__ import annotations

import json
import os
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import report
from harness.profile import load_profile
from harness.report import junit, results
from harness.session import Figure

REPO = Path(__file__).resolve().parents[2]
INVENTORY = {"cpu_model": "Intel(R) Xeon(R) Gold 6338", "cpu_flags": "sse4_2 avx2", "kernel": "6.1.0-18-amd64",
             "cmdline_isolcpus": "2-31", "hugepages": "2048kB: 128 total, 120 free", "dpdk_version": "DPDK 22.11.4"}

T64 = "suites/throughput/test_max_rate.py::test_delivered_rate_meets_target[64B]"
T1518 = "suites/throughput/test_max_rate.py::test_delivered_rate_meets_target[1518B]"
SPREAD = "suites/rss/test_rss_spread.py::test_spread_measured[tap]"
HASH = "suites/rss/test_rss_hash.py::test_hash_matches_toeplitz"


def fake_session(figures=(), skips=()):
    prof = load_profile(REPO / "profiles" / "vdev.toml")
    return types.SimpleNamespace(profile=prof, figures=list(figures), skips=list(skips), started=False,
                                 topologies={}, bound={})


def synthetic_figures():
    figs = [Figure(T64, "rx_pps_64B", 1.2e6, "pps", 9.5e5, ">=", True, {"min": 1.1e6, "max": 1.3e6}),
            Figure(T64, "loss_ratio_64B", 0.0, "", 0.0, "<=", True),
            Figure(T1518, "rx_pps_1518B", 4.0e5, "pps", 4.75e5, ">=", False, {"min": 3.9e5, "max": 4.1e5})]
    figs += [Figure(SPREAD, f"rss_queue{q}_pkts", v, "pkts") for q, v in enumerate((260, 250, 241, 273))]
    figs.append(Figure(SPREAD, "rss_chi2_p", 0.41, "", 0.01, ">=", True, {"chi2": "2.1", "flows": 1024}))
    return figs


SKIPS = [(HASH, "net_ring (net_ring_a) reports no RSS hash functions")]


# ------------------------------------------------------------------------------ results.build


def test_build_without_per_test_verdicts_derives_them_from_figures_and_skips():
    res = results.build(fake_session(synthetic_figures(), SKIPS), {"passed": 3, "skipped": 1}, 1, INVENTORY)
    assert res["format"] == "dpdk-harness-results" and res["format_version"] == 3
    assert res["tests_source"] == "figures"
    tests = {t["nodeid"]: t for t in res["tests"]}
    assert tests[HASH]["outcome"] == "skipped" and "RSS hash" in tests[HASH]["message"]
    assert tests[T1518]["failed_figures"] == ["rx_pps_1518B"]
    assert tests[SPREAD]["suite"] == "rss" and tests[T64]["suite"] == "throughput"
    fig = {f["name"]: f for f in res["figures"]}
    assert fig["rx_pps_64B"]["verdict"] == "PASS" and fig["rx_pps_64B"]["target_text"] == ">= 950,000"
    assert fig["rx_pps_1518B"]["verdict"] == "FAIL"
    assert fig["rss_queue0_pkts"]["verdict"] == "" and fig["rss_queue0_pkts"]["target_text"] == ""
    assert res["skips"] == [{"check": HASH, "reason": SKIPS[0][1]}]
    assert res["inventory"]["dpdk_version"] == "DPDK 22.11.4"  # given: kept
    assert res["ports"] == [{"topology": "ring_wire", "note": "not brought up in this run"}]
    assert res["interrupted"] is False
    json.dumps(res)  # plain data


def test_interrupted_run_is_marked():
    res = results.build(fake_session(), {}, 2, INVENTORY)
    assert res["interrupted"] is True


class _Rep:
    """The bits of a pytest TestReport the stats conversion reads."""

    def __init__(self, nodeid, when, outcome, duration=0.1, longrepr=None, wasxfail=None):
        self.nodeid, self.when, self.outcome, self.duration, self.longrepr = nodeid, when, outcome, duration, longrepr
        if wasxfail is not None:
            self.wasxfail = wasxfail

    passed = property(lambda self: self.outcome == "passed")
    failed = property(lambda self: self.outcome == "failed")
    skipped = property(lambda self: self.outcome == "skipped")


def test_tests_from_stats_takes_the_worst_phase_and_sums_durations():
    crash = types.SimpleNamespace(reprcrash=types.SimpleNamespace(message="AssertionError: 4.0e5 < 4.75e5"))
    stats = {
        "": [_Rep(T64, "setup", "passed", 0.5), _Rep(T64, "teardown", "passed", 0.25),
             _Rep(T1518, "setup", "passed")],
        "passed": [_Rep(T64, "call", "passed", 1.0)],
        "failed": [_Rep(T1518, "call", "failed", 2.0, crash)],
        "skipped": [_Rep(HASH, "setup", "skipped", 0.0, ("x.py", 3, "Skipped: no RSS hash"))],
        "error": [_Rep("suites/x/test_y.py::test_e", "teardown", "failed", 0.0, "boom\nE   leak")],
        "xfailed": [_Rep("suites/x/test_y.py::test_xf", "call", "skipped", 0.0, None, "reason: known")],
        "warnings": [object()],
    }
    tests = {t["nodeid"]: t for t in results.tests_from_stats(stats)}
    assert tests[T64] == {"nodeid": T64, "outcome": "passed", "duration_s": 1.75, "message": ""}
    assert tests[T1518]["outcome"] == "failed" and tests[T1518]["message"] == "AssertionError: 4.0e5 < 4.75e5"
    assert tests[HASH]["outcome"] == "skipped" and tests[HASH]["message"] == "no RSS hash"
    assert tests["suites/x/test_y.py::test_e"]["outcome"] == "error"
    assert tests["suites/x/test_y.py::test_e"]["message"] == "E   leak"
    assert tests["suites/x/test_y.py::test_xf"] == {"nodeid": "suites/x/test_y.py::test_xf", "outcome": "xfailed",
                                                    "duration_s": 0.0, "message": "known"}


@pytest.mark.parametrize("nodeid, suite", [
    ("suites/rss/test_rss_spread.py::test_x[tap]", "rss"),
    ("/abs/suites/affinity/test_numa.py::T::test", "affinity"),
    ("tests/plugin/test_a.py::test_b", "tests/plugin"),
    ("test_measuring.py::test_figure", "test_measuring"),
])
def test_suite_of(nodeid, suite):
    assert results.suite_of(nodeid) == suite


# ------------------------------------------------------------------------------ junit.xml

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" \
failures="1" skipped="1" tests="4" time="3.2" timestamp="2026-01-01T00:00:00+00:00" hostname="h"><properties>\
<property name="kernel" value="6.1" /></properties>\
<testcase classname="suites.throughput.test_max_rate" name="test_delivered_rate_meets_target[64B]" time="1.750">\
<properties><property name="rx_pps_64B" value="1.2e+06" /></properties></testcase>\
<testcase classname="suites.throughput.test_max_rate" name="test_delivered_rate_meets_target[1518B]" time="2.000">\
<properties><property name="rx_pps_1518B" value="400000" /></properties>\
<failure message="AssertionError: too slow">details</failure></testcase>\
<testcase classname="suites.rss.test_rss_hash" name="test_hash_matches_toeplitz" time="0.000">\
<skipped type="pytest.skip" message="no RSS hash">x.py:3: no RSS hash</skipped></testcase>\
<testcase classname="pkg.test_mod.TestA" name="test_e" time="0.010">\
<error message="failed on teardown with &quot;leak&quot;">t</error></testcase>\
</testsuite></testsuites>"""


def test_mangle_matches_pytest_junit_names():
    assert junit.mangle(T64) == ("suites.throughput.test_max_rate", "test_delivered_rate_meets_target[64B]")
    assert junit.mangle("a/test_b.py::TestC::test_d[x::y]") == ("a.test_b.TestC", "test_d[x::y]")


def test_testcases_read_verdicts_and_rebuild_nodeids(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "test_mod.py").write_text("")
    cases = junit.testcases(path, [T64, HASH], root_dir=tmp_path)
    got = {c["nodeid"]: (c["outcome"], c["duration_s"], c["message"]) for c in cases}
    assert got == {
        T64: ("passed", 1.75, ""),
        T1518: ("failed", 2.0, "AssertionError: too slow"),  # not known: rebuilt from classname
        HASH: ("skipped", 0.0, "no RSS hash"),
        "pkg/test_mod.py::TestA::test_e": ("error", 0.01, 'failed on teardown with "leak"'),
    }


def test_complete_adds_run_facts_and_verdicts_and_stays_valid(tmp_path):
    pytest.importorskip("xmlschema")
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    path.chmod(0o644)
    junit.validate(path)  # the synthetic file is valid to start with
    assert junit.complete(path, {"dpdk_version": "DPDK 22.11.4", "port0.driver": "net_ring", "kernel": "other"},
                          {T64: [("rx_pps_64B", "PASS")], HASH: [("rss_hash_missing", "FAIL")]})
    junit.validate(path)
    root = ET.parse(path).getroot()
    suite_props = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert suite_props == {"kernel": "6.1", "dpdk_version": "DPDK 22.11.4", "port0.driver": "net_ring"}
    cases = root.findall("testsuite/testcase")
    assert {p.get("name"): p.get("value") for p in cases[0].find("properties")} == {
        "rx_pps_64B": "1.2e+06", "rx_pps_64B.verdict": "PASS"}
    # a testcase without properties gets them as its first child, where the schema wants them
    assert cases[2][0].tag == "properties" and cases[2][1].tag == "skipped"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert junit.complete(path, {"dpdk_version": "again"}, {})  # idempotent: nothing doubled
    assert [p.get("name") for p in ET.parse(path).getroot().find("testsuite/properties")].count("dpdk_version") == 1


def test_complete_leaves_a_broken_file_alone(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text("<testsuites><testsuite")
    assert junit.complete(path, {"a": 1}, {}) is False
    assert path.read_text() == "<testsuites><testsuite"


@pytest.mark.parametrize("mutate, why", [
    (lambda s: s.replace('tests="4"', 'tests="four"'), "a count that is not a number"),
    (lambda s: s.replace('<property name="kernel" value="6.1" />', '<property name="kernel" />'), "a property without value"),
    (lambda s: s.replace('classname="suites.rss.test_rss_hash" ', ""), "a testcase without classname"),
    (lambda s: s.replace("<failure ", "<failed ").replace("</failure>", "</failed>"), "an unknown element"),
])
def test_schema_refuses_what_ci_consumers_would_misread(tmp_path, mutate, why):
    xmlschema = pytest.importorskip("xmlschema")
    path = tmp_path / "junit.xml"
    path.write_text(mutate(JUNIT))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        junit.validate(path)


# ------------------------------------------------------------------------------ write_reports


def test_write_reports_writes_every_report_and_completes_a_fresh_junit(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "junit.xml").write_text(JUNIT)  # as pytest would have written it just now
    res = report.write_reports(out, fake_session(synthetic_figures(), SKIPS), {"passed": 2, "failed": 1,
                                                                               "skipped": 1}, 1, INVENTORY)
    assert res["tests_source"] == "junit.xml"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["tests"] == res["tests"] and len(on_disk["tests"]) == 4
    summary = (out / "summary.md").read_text()
    assert "## Verdicts per suite" in summary and "## Skipped checks" in summary
    assert f"- `{HASH}`: {SKIPS[0][1]}" in summary
    assert "rx_pps_1518B" in summary and "FAIL" in summary
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "Verdicts per suite" in html
    props = {p.get("name") for p in ET.parse(out / "junit.xml").getroot().find("testsuite/properties")}
    assert {"dpdk_version", "port0.topology", "exit_status"} <= props


def test_a_stale_junit_from_an_earlier_run_is_neither_read_nor_changed(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "junit.xml").write_text(JUNIT)
    os.utime(out / "junit.xml", (1_000_000, 1_000_000))  # long before this process started
    res = report.write_reports(out, fake_session(synthetic_figures(), SKIPS), {}, 0, INVENTORY)
    assert res["tests_source"] == "figures"
    assert (out / "junit.xml").read_text() == JUNIT


def test_a_report_that_fails_does_not_cost_the_others(tmp_path, monkeypatch, capsys):
    from harness.report import html

    monkeypatch.setattr(html, "render", lambda res: 1 / 0)
    report.write_reports(tmp_path, fake_session(synthetic_figures()), {}, 0, INVENTORY)
    assert (tmp_path / "results.json").exists() and (tmp_path / "summary.md").exists()
    assert "dpdk-harness: report.html not written: ZeroDivisionError" in capsys.readouterr().err


def test_load_accepts_the_previous_results_format_and_refuses_other_json(tmp_path):
    from harness.errors import UsageError

    old = {"harness_version": "0.1.0", "profile": {"name": "vdev", "path": "p"}, "exit_status": 0,
           "outcomes": {"passed": 1}, "inventory": {}, "skips": [],
           "figures": [{"test": T64, "name": "rx_pps_64B", "value": 1.0, "unit": "pps", "target": 2.0,
                        "op": ">=", "passed": False, "extra": {}}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    res = results.load(tmp_path / "old.json")
    assert res["figures"][0]["verdict"] == "FAIL" and res["tests"] == []
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(UsageError, match="other.json: not a dpdk-harness results.json"):
        results.load(tmp_path / "other.json")
    with pytest.raises(UsageError, match="missing.json: cannot read results"):
        results.load(tmp_path / "missing.json")


# ------------------------------------------------------------------------------ interrupted runs

INTERRUPTED_JUNIT = JUNIT.replace('errors="1"', 'errors="0"').replace(
    "</testsuite>", '<testcase time="0.824" /></testsuite>')  # what pytest leaves for the check it was in


def test_the_check_an_interrupt_stopped_is_named_and_made_an_error(tmp_path):
    pytest.importorskip("xmlschema")
    path = tmp_path / "junit.xml"
    path.write_text(INTERRUPTED_JUNIT)
    with pytest.raises(Exception):  # noqa: B017  (xmlschema raises its own error types)
        junit.validate(path)  # a testcase without a name: CI consumers reject it
    busy = "suites/ports/test_bringup.py::test_wire_delivers_every_frame"
    cases = junit.testcases(path, [T64, HASH, busy], root_dir=tmp_path)
    assert cases[-1] == {"nodeid": busy, "outcome": "interrupted", "duration_s": 0.824,
                         "message": results.INTERRUPTED_MESSAGE}
    assert junit.complete(path, {}, {}, [busy])
    junit.validate(path)
    root = ET.parse(path).getroot()
    case = root.findall("testsuite/testcase")[-1]
    assert (case.get("classname"), case.get("name")) == ("suites.ports.test_bringup", "test_wire_delivers_every_frame")
    assert case.find("error").get("type") == "interrupted"
    assert root.find("testsuite").get("errors") == "1" and root.find("testsuite").get("tests") == "5"


def test_with_pytest_reports_a_check_without_a_call_report_was_interrupted():
    tests = [{"nodeid": T64, "outcome": "passed", "duration_s": 1.0, "message": ""},
             {"nodeid": T1518, "outcome": "unknown", "duration_s": 0.3, "message": ""}]
    res = results.build(fake_session(), {"passed": 1}, 2, INVENTORY, tests=[dict(t) for t in tests])
    assert res["tests_source"] == "pytest"
    assert [t["outcome"] for t in res["tests"]] == ["passed", "interrupted"]
    res = results.build(fake_session(), {"passed": 1}, 0, INVENTORY, tests=[dict(t) for t in tests])
    assert [t["outcome"] for t in res["tests"]] == ["passed", "unknown"]  # not interrupted: left as it is


def test_build_keeps_the_suites_checks_only_and_stable_keys():
    own = "tests/unit/test_x.py::test_own"
    figs = synthetic_figures() + [Figure(own, "own_figure", 1.0)]
    tests = [{"nodeid": T64, "outcome": "passed", "duration_s": 1.0, "message": ""},
             {"nodeid": T1518, "outcome": "failed", "duration_s": 1.0, "message": "below"},
             {"nodeid": HASH, "outcome": "skipped", "duration_s": 0.0, "message": ""},
             {"nodeid": own, "outcome": "passed", "duration_s": 0.1, "message": ""}]
    res = results.build(fake_session(figs, SKIPS + [(own + "2", "ours")]), None, 1, INVENTORY, tests=tests,
                        in_scope=lambda nodeid: nodeid.startswith("suites/"),
                        invocation={"dir": "/src", "args": ["suites/"], "argv": ["pytest", "suites/"]})
    assert [t["nodeid"] for t in res["tests"]] == [T64, T1518, HASH]
    assert "own_figure" not in {f["name"] for f in res["figures"]} and len(res["skips"]) == 1
    assert res["outcomes"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1, "xfailed": 0, "xpassed": 0,
                               "interrupted": 0}
    assert all("failed_figures" in t for t in res["tests"]) and res["tests"][0]["failed_figures"] == []
    assert {s["suite"]: s["verdict"] for s in res["suites"]} == {"throughput": "failed",
                                                                 "rss": "not verified (1 skipped)"}
    keys = {frozenset(f) for f in res["figures"]}
    assert len(keys) == 1, "every figure has the same keys"
    rate = next(f for f in res["figures"] if f["name"] == "rx_pps_64B")
    assert rate["frame_size"] == 64 and rate["metric"] == "rx_pps" and rate["wire_gbps"] == pytest.approx(0.8064)
    assert res["run"]["rerun"].startswith("cd /src && ") and "--dpdk-profile=" in res["run"]["rerun"]
    assert res["profile"]["loaded"]["eal"]["memory_mb"] == 256 and res["device_class"] == "software"
    json.dumps(res)  # plain data throughout
