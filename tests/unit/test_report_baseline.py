"""Baselines: saving, the per-direction comparison, the CLI, and the in-run judgement (no DPDK)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.report import baseline as bl
from harness.report.results import figure_record
from harness.session import Figure

REPO = Path(__file__).resolve().parents[2]
RATE = "suites/throughput/test_max_rate.py::test_delivered_rate_meets_target[64B]"
WIRE = "suites/ports/test_bringup.py::test_wire_delivers_every_frame"
PORTS = "suites/ports/test_bringup.py::test_ports_start_as_configured"


def fig(test, name, value, unit="", target=None, op=">="):
    passed = None if target is None else (value >= target if op == ">=" else value <= target)
    return figure_record({"test": test, "name": name, "value": value, "unit": unit, "target": target, "op": op,
                          "passed": passed, "extra": {}})


def run(pps=1.0e6, lost=0, sent=100000, chi2=0.4, vdev_id="111630", host="vm", kernel="6.1.0", exit_status=0,
        extra=()):
    figs = [fig(RATE, "rx_pps_64B", pps, "pps", 9.5e5), fig(RATE, "loss_ratio_64B", 0.0, "", 0.0, "<="),
            fig(WIRE, "wire_frames_sent", sent, "frames"), fig(WIRE, "wire_frames_lost", lost, "frames", 0, "<="),
            fig("suites/rss/test_rss_spread.py::test_spread[tap]", "rss_chi2_p", chi2, "", 0.01),
            fig(PORTS, f"net_ring_dhw{vdev_id}_a.link_speed", 10000, "Mbps"), *extra]
    return {"format": "dpdk-harness-results", "format_version": 2, "harness_version": "0.1.0",
            "profile": {"name": "vdev", "path": "profiles/vdev.toml"}, "hostname": host, "exit_status": exit_status,
            "interrupted": exit_status == 2, "probe_fault": None, "outcomes": {"passed": 4},
            "inventory": {"cpu_model": "AMD EPYC", "kernel": kernel, "dpdk_version": "DPDK 22.11.4"},
            "ports": [{"port": 0, "name": f"net_ring_dhw{vdev_id}_a", "driver": "net_ring", "topology": "ring_wire",
                       "role": "a", "speed_mbps": 10000}],
            "tests": [{"nodeid": t, "outcome": "passed"} for t in (RATE, WIRE, PORTS)],
            "figures": figs, "skips": []}


def statuses(comp):
    return {r.name: r.status for r in comp.rows}


# ------------------------------------------------------------------------------ judging one figure


@pytest.mark.parametrize("op, base, cur, status", [
    (">=", 100.0, 96.0, bl.OK),           # within 5%
    (">=", 100.0, 94.0, bl.REGRESSION),   # a rate fell
    (">=", 100.0, 110.0, bl.IMPROVED),
    ("<=", 100.0, 104.0, bl.OK),
    ("<=", 100.0, 106.0, bl.REGRESSION),  # a latency rose
    ("<=", 100.0, 90.0, bl.IMPROVED),
    ("<=", 0.0, 1.0, bl.REGRESSION),      # no drops in the baseline: one drop is a regression
    ("<=", 0.0, 0.0, bl.OK),
    (None, 100.0, 80.0, bl.CHANGED),      # no target: the change is reported, never a regression
    (None, 100.0, 120.0, bl.CHANGED),
    (None, 100.0, 102.0, bl.OK),
])
def test_direction_follows_the_target(op, base, cur, status):
    target = None if op is None else 1.0
    b = fig(RATE, "x", base, target=target, op=op or ">=")
    c = fig(RATE, "x", cur, target=target, op=op or ">=")
    row = bl.judge(b, c, 0.05)
    assert row.status == status, row
    if base:
        assert row.change == pytest.approx((cur - base) / base)


def test_abs_tolerance_covers_a_zero_baseline():
    row = bl.judge(fig(WIRE, "lost", 0, target=0, op="<="), fig(WIRE, "lost", 3, target=0, op="<="), 0.05,
                   abs_tolerance=5)
    assert row.status == bl.OK and math.isinf(row.change)


def test_not_a_number():
    b, c = fig(RATE, "p", 0.4, target=0.01), fig(RATE, "p", float("nan"), target=0.01)
    assert bl.judge(b, c, 0.05).status == bl.REGRESSION  # a directed figure that is no longer measured
    assert bl.judge(c, c, 0.05).status == bl.OK


# ------------------------------------------------------------------------------ comparing runs


def test_unchanged_run_has_no_regression():
    comp = bl.compare(run(), bl.make(run(vdev_id="999990"), "hostA"))
    assert comp.ok and set(statuses(comp).values()) == {bl.OK}
    # the port-named figure matches through the port's role although the vdev id differs
    assert statuses(comp)["net_ring_dhw111630_a.link_speed"] == bl.OK


def test_injected_regressions_are_flagged_by_direction():
    comp = bl.compare(run(pps=0.9e6, lost=2, sent=120000, chi2=0.9), bl.make(run(), "hostA"), 0.05)
    assert statuses(comp) == {"rx_pps_64B": bl.REGRESSION, "loss_ratio_64B": bl.OK, "wire_frames_sent": bl.CHANGED,
                              "wire_frames_lost": bl.REGRESSION, "rss_chi2_p": bl.IMPROVED,
                              "net_ring_dhw111630_a.link_speed": bl.OK}
    assert not comp.ok and {r.name for r in comp.regressions} == {"rx_pps_64B", "wire_frames_lost"}
    text = bl.format_comparison(comp)
    assert "REGRESSION" in text and "-10.0%" in text and "higher is better" in text
    assert "2 regression(s) beyond the tolerance" in text


def test_tolerance_per_figure_pattern():
    comp = bl.compare(run(pps=0.9e6), bl.make(run(), "hostA"), 0.05, figure_tolerances={"rx_pps_*": 0.15})
    assert comp.ok


def test_new_and_missing_figures_and_strict():
    extra = [fig(RATE, "latency_p99_us", 10.0, "us", 20.0, "<=")]
    comp = bl.compare(run(extra=extra), bl.make(run(), "hostA"))
    assert statuses(comp)["latency_p99_us"] == bl.NEW and comp.ok
    comp = bl.compare(run(), bl.make(run(extra=extra), "hostA"))
    assert statuses(comp)["latency_p99_us"] == bl.MISSING and comp.ok
    comp = bl.compare(run(), bl.make(run(extra=extra), "hostA"), strict=True)
    assert not comp.ok


def test_same_name_twice_in_one_check_is_matched_by_occurrence():
    twice = [fig(WIRE, "split", 0, target=0, op="<="), fig(WIRE, "split", 0, target=0, op="<=")]
    now = [fig(WIRE, "split", 0, target=0, op="<="), fig(WIRE, "split", 4, target=0, op="<=")]
    comp = bl.compare(run(extra=now), bl.make(run(extra=twice), "hostA"))
    assert [r.status for r in comp.rows if r.name == "split"] == [bl.OK, bl.REGRESSION]


def test_host_and_verdict_differences_are_listed():
    cur = run(host="hostB", kernel="6.8.0")
    cur["tests"][1]["outcome"] = "failed"
    comp = bl.compare(cur, bl.make(run(), "hostA"))
    assert ("kernel", "6.1.0", "6.8.0") in comp.host_differences
    assert comp.outcome_changes == [(WIRE, "passed", "failed")]
    assert "kernel: 6.1.0 -> 6.8.0" in bl.format_comparison(comp)


# ------------------------------------------------------------------------------ saving


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_save_default_path_refusals_and_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _write(tmp_path, "results.json", run())
    path, base, notes = bl.save(res, name="hostA")
    assert path == Path("baselines/hostA.json") and path.exists() and notes == []
    saved = json.loads(path.read_text())
    assert saved["format"] == bl.FORMAT and saved["name"] == "hostA" and len(saved["figures"]) == 6
    assert saved["inventory"]["cpu_model"] == "AMD EPYC"
    with pytest.raises(UsageError, match="baselines/hostA.json exists; .* --force"):
        bl.save(res, name="hostA")
    bl.save(res, name="hostA", force=True)
    with pytest.raises(UsageError, match="baseline name 'no/slash'"):
        bl.save(res, name="no/slash")
    with pytest.raises(UsageError, match="interrupted"):
        bl.save(_write(tmp_path, "i.json", run(exit_status=2)), name="i")
    faulted = dict(run(), probe_fault="leak-unsent")
    with pytest.raises(UsageError, match="--probe-fault leak-unsent"):
        bl.save(_write(tmp_path, "f.json", faulted), name="f")
    path, _, notes = bl.save(_write(tmp_path, "slow.json", run(pps=1.0)), output=tmp_path / "x" / "slow.json")
    assert path.exists() and "miss their profile target" in notes[0]


def test_load_takes_a_results_json_as_a_baseline_and_refuses_a_newer_format(tmp_path):
    assert bl.load(_write(tmp_path, "prev.json", run()))["name"] == "prev"
    newer = dict(bl.make(run(), "x"), format_version=bl.FORMAT_VERSION + 1)
    with pytest.raises(UsageError, match="newer than this harness reads"):
        bl.load(_write(tmp_path, "new.json", newer))


# ------------------------------------------------------------------------------ the CLI


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=60)


def test_cli_save_then_compare(tmp_path):
    good, slow = _write(tmp_path, "good.json", run()), _write(tmp_path, "slow.json", run(pps=0.8e6))
    r = _cli("baseline", "save", good, "--name", "hostA", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "saved baseline hostA: baselines/hostA.json (6 figures" in r.stdout
    r = _cli("baseline", "compare", good, "baselines/hostA.json", "--tolerance", "0.05", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no regression" in r.stdout and "6 ok" in r.stdout
    r = _cli("baseline", "compare", slow, "baselines/hostA.json", "--tolerance", "0.05", "--changes-only",
             "--json", "cmp.json", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    line = next(l for l in r.stdout.splitlines() if "rx_pps_64B" in l)
    assert "1,000,000" in line and "800,000" in line and "-20.0%" in line and "REGRESSION" in line
    assert "wire_frames_sent" not in r.stdout  # unchanged rows left out
    assert json.loads((tmp_path / "cmp.json").read_text())["regressions"] == 1
    r = _cli("baseline", "compare", slow, "baselines/hostA.json", "--tolerance", "0.25", cwd=tmp_path)
    assert r.returncode == 0, r.stdout


def test_cli_bad_input_is_exit_2_with_one_error_line(tmp_path):
    good = _write(tmp_path, "good.json", run())
    r = _cli("baseline", "compare", good, tmp_path / "nope.json", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "nope.json: cannot read results" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli("baseline", "compare", good, good, "--tolerance", "-1", cwd=tmp_path)
    assert r.returncode == 2 and "must be >= 0" in r.stderr


def test_cli_report_renders_html_again(tmp_path):
    good = _write(tmp_path, "results.json", run())
    _cli("baseline", "save", good, "--output", tmp_path / "b.json", cwd=tmp_path)
    r = _cli("report", good, "--baseline", tmp_path / "b.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert "Baseline comparison" in page and "Host inventory" in page


# ------------------------------------------------------------------------------ within a run


class _Report:
    def __init__(self, outcome="passed", when="call"):
        self.outcome, self.when, self.longrepr, self.sections = outcome, when, None, []

    passed = property(lambda self: self.outcome == "passed")


def _in_run(tmp_path, pps, action="fail"):
    path = _write(tmp_path, "hostA.json", bl.make(run(), "hostA"))
    check = bl.load_check(str(path), 0.05, action)
    item = types.SimpleNamespace(nodeid=RATE, user_properties=[])
    sess = types.SimpleNamespace(figures=[Figure(RATE, "rx_pps_64B", pps, "pps", 9.5e5, ">=", pps >= 9.5e5)],
                                 started=False)
    rep = _Report()
    rows = bl.judge_test(item, rep, check, sess)
    return rep, rows, dict(item.user_properties)


def test_in_run_regression_fails_the_check(tmp_path):
    rep, rows, props = _in_run(tmp_path, 0.9e6)
    assert rep.outcome == "failed" and [r.status for r in rows] == [bl.REGRESSION]
    assert rep.longrepr.startswith("baseline regression against hostA (tolerance 5.0%): rx_pps_64B = 900,000 pps, "
                                   "baseline 1,000,000 (-10.0%, higher is better)")
    assert "python -m harness baseline save reports/results.json --name hostA --force" in rep.longrepr
    assert props == {"rx_pps_64B.baseline": "1e+06", "rx_pps_64B.baseline_change": "-10.0%"}


def test_in_run_report_action_and_unchanged_run(tmp_path):
    rep, _, _ = _in_run(tmp_path, 0.9e6, action="report")
    assert rep.outcome == "passed" and rep.sections[0][0] == "dpdk-harness baseline"
    rep, rows, _ = _in_run(tmp_path, 1.0e6)
    assert rep.outcome == "passed" and not rep.sections and [r.status for r in rows] == [bl.OK]


@pytest.mark.parametrize("args, message", [
    (("nope.json",), "--baseline: nope.json: cannot read results"),
    (("x.json", -0.1), "--baseline-tolerance -0.1: must be >= 0"),
    (("x.json", 0.05, "explode"), "--baseline-action 'explode': choose fail or report"),
])
def test_load_check_errors_name_the_option(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as exc:
        bl.load_check(*args)
    assert str(exc.value).startswith(message)
