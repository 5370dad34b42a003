"""Baselines across real runs: save one run, compare others; and the in-run check (``--baseline``).

The runs here record figures through ``measure`` only, so none of them boots EAL.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.report import junit

REPO = Path(__file__).resolve().parents[2]

FIGURES = """
import os

def test_rate(measure):
    measure("rx_pps_64B", float(os.environ.get("DH_PPS", "1e6")), unit="pps", target=5e5)
    measure("loss_ratio_64B", float(os.environ.get("DH_LOSS", "0")), target=0, op="<=")

def test_counts(measure):
    measure("frames_sent", float(os.environ.get("DH_SENT", "1000")), unit="frames")
"""

def _harness(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def _run(child, out, monkeypatch, *args, **env):
    for key in ("DH_PPS", "DH_LOSS", "DH_SENT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = child.run("--report-dir", out, *args)
    child.no_traceback(result)
    return result


def test_save_then_compare_flags_an_injected_regression_and_passes_an_unchanged_run(child, pytester, monkeypatch):
    pytester.makepyfile(test_figures=FIGURES)
    assert _run(child, "run1", monkeypatch).ret == 0
    r = _harness("baseline", "save", "run1/results.json", "--name", "hostA", cwd=pytester.path)
    assert r.returncode == 0, r.stdout + r.stderr
    base = json.loads((pytester.path / "baselines" / "hostA.json").read_text())
    assert {f["name"] for f in base["figures"]} == {"rx_pps_64B", "loss_ratio_64B", "frames_sent"}

    assert _run(child, "run2", monkeypatch).ret == 0  # the same host, nothing changed
    r = _harness("baseline", "compare", "run2/results.json", "baselines/hostA.json", "--tolerance", "0.05",
                 cwd=pytester.path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no regression" in r.stdout and "3 ok" in r.stdout

    # 10% less throughput (still above the profile target: only the baseline catches it), more frames
    assert _run(child, "run3", monkeypatch, DH_PPS="9e5", DH_SENT="1500").ret == 0
    r = _harness("baseline", "compare", "run3/results.json", "baselines/hostA.json", "--tolerance", "0.05",
                 cwd=pytester.path)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line.startswith("test_")}
    assert rows["rx_pps_64B"].split()[-1] == "REGRESSION" and "-10.0%" in rows["rx_pps_64B"], r.stdout
    assert rows["frames_sent"].split()[-1] == "changed" and "+50.0%" in rows["frames_sent"], r.stdout
    assert rows["loss_ratio_64B"].split()[-1] == "ok", r.stdout
    assert "1 regression(s) beyond the tolerance" in r.stdout


def test_in_run_baseline_check_fails_the_regressed_check(child, pytester, monkeypatch):
    pytester.makepyfile(test_figures=FIGURES)
    assert _run(child, "run1", monkeypatch).ret == 0
    assert _harness("baseline", "save", "run1/results.json", "--name", "hostA", cwd=pytester.path).returncode == 0

    result = _run(child, "run2", monkeypatch, "--baseline", pytester.path / "baselines" / "hostA.json", DH_PPS="9e5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*baseline regression against hostA (tolerance 5.0%): rx_pps_64B = 900,000 pps, baseline 1,000,000 "
        "(-10.0%, higher is better)*",
        "*dpdk-harness: against baseline*",
        "baseline hostA (saved *); tolerance 5.0%",
        "test_rate*rx_pps_64B*1,000,000*900,000*pps*-10.0%*higher is better*REGRESSION*",
    ])

    junit.validate(pytester.path / "run2" / "junit.xml")
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "run2" / "junit.xml").getroot().iter("testcase")}
    failure = cases["test_rate"].find("failure")
    assert failure is not None and failure.get("message").startswith("baseline regression against hostA")
    props = {p.get("name"): p.get("value") for p in cases["test_rate"].iter("property")}
    assert props["rx_pps_64B.baseline"] == "1e+06" and props["rx_pps_64B.baseline_change"] == "-10.0%"
    assert cases["test_counts"].find("failure") is None

    # the reports: verdicts from pytest's reports, and the comparison
    res = json.loads((pytester.path / "run2" / "results.json").read_text())
    assert res["tests_source"] == "pytest"
    assert {t["nodeid"]: t["outcome"] for t in res["tests"]} == {
        "test_figures.py::test_rate": "failed", "test_figures.py::test_counts": "passed"}
    assert res["baseline"]["baseline"] == "hostA" and res["baseline"]["regressions"] == 1
    page = (pytester.path / "run2" / "report.html").read_text()
    assert "Baseline comparison" in page and "regression(s) against baseline hostA" in page
