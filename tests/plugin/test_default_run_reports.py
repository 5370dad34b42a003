"""The reports of a default run (the vdev profile, real suites) against their schemas and promises.

One child run of the suites that make every kind of figure the reports chart (ports, NDR/PDR per frame
size, latency with its histogram), on the default profile, into a report dir of its own. Whatever the
checks' verdicts on a busy machine, the reports must hold: results.json validates against
reports/results.schema.json with numbers as numbers, junit.xml against its XSD with the same inventory,
report.html carries the software-device banner, tester-bound rates as such, the latency chart in order on
a log axis with the path named, and the re-run line.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report import junit

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "reports" / "results.schema.json"
SUITES = ["suites/ports", "suites/throughput/test_ndr.py", "suites/throughput/test_latency.py"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default-run")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SUITES,
                           "--dpdk-report-dir", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    text = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), f"the run did not complete (exit {proc.returncode}):\n{text}"
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    return out, text


def test_results_json_validates_against_the_schema(default_run):
    jsonschema = pytest.importorskip("jsonschema")
    out, _ = default_run
    res = json.loads((out / "results.json").read_text())
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(res)]
    assert not errors, "results.json does not match reports/results.schema.json:\n" + "\n".join(errors[:20])
    figs = {f["name"]: f for f in res["figures"]}
    ndr = figs["ndr_pps_64B"]
    assert isinstance(ndr["value"], float) and ndr["frame_size"] == 64 and ndr["metric"] == "ndr_pps"
    assert all(isinstance(v, (int, float)) for k, v in ndr["extra"].items() if k in ("min", "max", "tester_ceiling"))
    # a check that fails early on a busy machine records fewer figures: judge those there are
    assert all(f["stat"] == "p99.9" for n, f in figs.items() if n.startswith("latency_p999_us_"))
    strings = [(f["name"], k, v) for f in res["figures"] for k, v in f["extra"].items()
               if isinstance(v, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", v)]
    assert not strings, f"numbers written as strings: {strings[:10]}"
    assert res["device_class"] == "software"
    assert res["harness"]["version"] and res["run"]["rerun"] and res["profile"]["loaded"]["eal"]


def test_junit_validates_and_carries_the_same_inventory(default_run):
    pytest.importorskip("xmlschema")
    out, _ = default_run
    junit.validate(out / "junit.xml")
    res = json.loads((out / "results.json").read_text())
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties").iter("property")}
    differs = {k: (props.get(k), v) for k, v in res["inventory"].items() if props.get(k) != v}
    assert not differs, f"junit.xml and results.json disagree on the inventory (junit, json): {differs}"


def test_histograms_export_as_hdrhistogram_percentile_distributions(default_run):
    out, _ = default_run
    res = json.loads((out / "results.json").read_text())
    timed = {f["frame_size"] for f in res["figures"] if f["metric"] == "latency_max_us"}
    assert {h["frame_size"] for h in res["histograms"]} == timed
    for h in res["histograms"]:
        text = (out / h["file"]).read_text()
        rows = [line.split() for line in text.splitlines() if line.strip() and line.lstrip()[0].isdigit()]
        values = [float(r[0]) for r in rows]
        pcts = [float(r[1]) for r in rows]
        assert values == sorted(values) and pcts == sorted(pcts) and pcts[-1] == 1.0
        assert int(rows[-1][2]) == h["frames"]
        assert f"Total count    = {h['frames']:12d}" in text


def test_report_html_is_honest_and_reproducible(default_run):
    out, _ = default_run
    page = (out / "report.html").read_text()
    res = json.loads((out / "results.json").read_text())
    assert "software devices — not a hardware qualification" in page
    for f in res["figures"]:
        if f["bound"] == "tester":
            assert f"≥ {f['value']:,.0f} (tester limit; device not saturated)" in page
        if f["above_link"]:
            assert "above the 10 Gbit/s link speed the port reports" in page
    assert "Rate vs frame size" in page
    if not res["histograms"]:
        pytest.fail("no latency was measured (the latency checks failed before timing frames; see the run):\n"
                    + "\n".join(t["message"] for t in res["tests"] if "latency" in t["nodeid"]), pytrace=False)
    lat = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if "Latency percentiles" in s)
    ET.fromstring(lat)
    ticks = [lat.index(f">{t}<") for t in ("min", "p50", "p90", "p99", "p99.9", "max")]
    assert ticks == sorted(ticks), "latency statistics out of order"
    assert "(log scale)" in lat and "path: net_ring" in lat
    assert "re-run" in page and html.escape(res["run"]["rerun"]) in page
    assert "--dpdk-profile=" in res["run"]["rerun"]
