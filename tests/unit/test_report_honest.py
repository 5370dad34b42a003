"""Reports that do not overstate: structured figures, tester-bound rates, the wire, banners, latency order.

Synthetic results only (no DPDK, no root).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from harness.report import hgrm, html, summary_markdown, svg
from harness.report.results import figure_record, measured_text, number, structure, suite_verdicts, wire

NDR = "suites/throughput/test_ndr.py::test_zero_loss_rate_meets_target[{}B]"
LAT = "suites/throughput/test_latency.py::test_latency_within_limits[{}B]"
PATH = "net_ring_a (net_ring), net_ring_b (net_ring): ring wire; frames sent and received by lcore 1"


@pytest.mark.parametrize("name, fields", [
    ("ndr_pps_64B", {"metric": "ndr_pps", "frame_size": 64, "queue": None, "stat": None}),
    ("rss_queue3_pkts", {"metric": "rss_queue_pkts", "frame_size": None, "queue": 3, "stat": None}),
    ("rss_depth_queue12_held", {"metric": "rss_depth_queue_held", "frame_size": None, "queue": 12, "stat": None}),
    ("latency_p999_us_1518B", {"metric": "latency_p999_us", "frame_size": 1518, "queue": None, "stat": "p99.9"}),
    ("latency_max_us", {"metric": "latency_max_us", "frame_size": None, "queue": None, "stat": "max"}),
    ("wire_frames_lost", {"metric": "wire_frames_lost", "frame_size": None, "queue": None, "stat": None}),
])
def test_names_that_encode_fields_give_them_as_fields(name, fields):
    assert structure(name) == fields


def test_numbers_are_numbers():
    assert number("4720456") == 4720456 and isinstance(number("4720456"), int)
    assert number("0.25") == 0.25 and number("1e6") == 1e6
    assert number("ring_wire") == "ring_wire" and number(True) is True and number(float("nan")) is None
    rec = figure_record({"test": "t", "name": "pdr_pps_64B", "value": 1.0, "unit": "pps", "target": None,
                         "op": ">=", "passed": None, "extra": {"min": "5893", "search": "ci", "frame_size": 64}})
    assert rec["extra"] == {"min": 5893, "search": "ci"} and rec["frame_size"] == 64
    assert set(rec) >= {"metric", "frame_size", "queue", "stat", "bound", "verdict", "target_text"}


def ndr(size, value, target, bound=None):
    extra = {"bounded_by": bound} if bound else {}
    return figure_record({"test": NDR.format(size), "name": f"ndr_pps_{size}B", "value": value, "unit": "pps",
                          "target": target, "op": ">=", "passed": value >= target, "extra": extra})


def test_a_tester_bound_rate_is_a_lower_bound():
    f = ndr(64, 4720455.8, 950000, "tester ceiling")
    assert f["bound"] == "tester" and f["verdict"] == "PASS"
    assert measured_text(f) == "≥ 4,720,456 (tester limit; device not saturated)"
    assert measured_text(ndr(64, 1e6, 9e5)) == "1,000,000"


def test_rates_on_the_wire_and_against_the_link():
    w = wire(ndr(64, 14880952, 1e6), 10.0)  # 64B line rate of 10G
    assert w["wire_gbps"] == pytest.approx(10.0, rel=1e-6) and w["line_rate_share"] == pytest.approx(1.0, rel=1e-6)
    assert w["above_link"] is False
    over = wire(ndr(1518, 5.1e6, 4.75e5), 10.0)
    assert over["wire_gbps"] == pytest.approx(62.75, rel=1e-3) and over["above_link"] is True
    assert wire(figure_record({"test": "t", "name": "wire_frames_lost", "value": 0}), 10.0)["wire_gbps"] is None


@pytest.mark.parametrize("outcomes, verdict", [
    (["passed", "passed"], "passed"),
    (["passed", "skipped", "skipped"], "passed with 2 skipped"),
    (["passed", "failed", "skipped"], "failed"),
    (["skipped", "skipped"], "not verified (2 skipped)"),
])
def test_a_suite_verdict_says_what_was_skipped(outcomes, verdict):
    tests = [{"nodeid": f"suites/rss/test_x.py::t{i}", "suite": "rss", "outcome": o} for i, o in enumerate(outcomes)]
    assert suite_verdicts(tests)[0]["verdict"] == verdict


def lat(size, stat, value, target=None):
    name = f"latency_{'p999' if stat == 'p99.9' else stat}_us_{size}B"
    return figure_record({"test": LAT.format(size), "name": name, "value": value, "unit": "us", "target": target,
                          "op": "<=", "passed": None if target is None else value <= target,
                          "extra": {"path": PATH, "frame_size": size}})


def results(**over) -> dict:
    figs = [ndr(64, 4720455.8, 950000, "tester ceiling"), ndr(1518, 5167864.6, 475000, "tester ceiling")]
    # recorded in the suite's (unordered) order: p99.9 before p50, max before min
    for stat, v in (("p99.9", 0.56), ("max", 229.0), ("p50", 0.087), ("p90", 0.13), ("p99", 0.2), ("min", 0.019)):
        figs.append(lat(64, stat, v, 50.0 if stat == "p99" else None))
    tests = [{"nodeid": NDR.format(64), "suite": "throughput", "outcome": "passed", "duration_s": 1.0, "message": ""},
             {"nodeid": LAT.format(64), "suite": "throughput", "outcome": "passed", "duration_s": 1.0, "message": ""},
             {"nodeid": "suites/rss/test_rss_hash.py::t", "suite": "rss", "outcome": "skipped", "duration_s": 0,
              "message": "net_ring reports no RSS hash functions"}]
    res = {"format": "dpdk-harness-results", "format_version": 3, "harness_version": "0.1.0",
           "harness": {"version": "0.1.0", "commit": "0123abcd", "dirty": False, "source": "/src"},
           "profile": {"name": "vdev", "path": "profiles/vdev.toml", "loaded": {"name": "vdev", "eal": {"memory_mb": 256}}},
           "run": {"command": "pytest suites/", "cwd": "/src", "args": ["suites/"],
                   "rerun": "cd /src && python -m pytest suites/ --dpdk-profile=profiles/vdev.toml"},
           "device_class": "software", "hostname": "vm", "exit_status": 0, "interrupted": False,
           "outcomes": {"passed": 2, "skipped": 1}, "inventory": {"kernel_cmdline": "ro quiet", "dpdk_version": "DPDK 22.11.4"},
           "ports": [{"port": 0, "name": "net_ring_a", "driver": "net_ring", "topology": "ring_wire", "speed_mbps": 10000}],
           "link_gbps": 10.0, "tests": tests, "suites": suite_verdicts(tests), "figures": figs, "skips": [],
           "histograms": [{"test": LAT.format(64), "name": "latency_us_64B", "unit": "us", "frame_size": 64,
                           "file": "latency_us_64B.hgrm", "frames": 10, "buckets": [[0.01, 0.02, 10]]}]}
    res.update(over)
    return res


def test_the_page_says_software_devices_tester_limits_and_how_to_rerun():
    page = html.render(results())
    assert "software devices — not a hardware qualification" in page
    assert page.count("≥ 4,720,456 (tester limit; device not saturated)") >= 1
    assert "PASS: lower bound" in page
    assert page.count('class="badge PASS">PASS<') == 1  # latency p99 only: the rates are lower bounds
    thr = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if "Rate vs frame size" in s)
    assert "url(#lowerbound)" in thr and svg.COLOURS[True] not in thr, "a tester-bound rate drawn as a PASS bar"
    assert "62.8 Gbit/s on the wire" not in page and "above the 10 Gbit/s link speed" in page  # 1518B: 63 Gbit/s
    assert "re-run: <code>cd /src &amp;&amp; python -m pytest suites/ --dpdk-profile=profiles/vdev.toml</code>" in page
    assert "commit 0123abcd" in page and "ro quiet" in page and "eal.memory_mb = 256" in page
    assert "passed with 1 skipped" not in page and ">passed<" in page  # throughput: passed; rss: not verified
    assert "not verified (1 skipped)" in page


def test_latency_in_order_on_a_log_axis_with_the_path_named():
    page = html.render(results())
    chart = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if "Latency percentiles" in s)
    ET.fromstring(chart)
    ticks = [chart.index(f">{t}<") for t in ("min", "p50", "p90", "p99", "p99.9", "max")]
    assert ticks == sorted(ticks)
    dots = [float(m) for m in re.findall(r'<circle cx="([\d.]+)"', chart)]
    assert dots == sorted(dots) and len(dots) == 6  # drawn left to right in that order
    assert "(log scale)" in chart and ">100<" in chart and ">0.01<" in chart  # decades from 0.019 to 229
    assert "path: net_ring_a (net_ring)" in chart and "latency_us_64B.hgrm" in page


def test_histogram_links_say_how_many_frames_were_sampled():
    """The generator stamps 1 frame in sample_period: a histogram's count is that sample, not the frames
    received, and the page says so; a histogram without a period (an older run) counts plain frames."""
    sampled = [{"test": LAT.format(64), "name": "latency_us_64B", "unit": "us", "frame_size": 64,
                "file": "latency_us_64B.hgrm", "frames": 1250, "sample_period": 16, "buckets": [[0.01, 0.02, 1250]]}]
    assert "(1250 sampled frames (1 in 16))" in html.render(results(histograms=sampled))
    assert "(10 frames)" in html.render(results()) and "sampled" not in html.render(results())


def test_an_emulated_nic_carries_its_banner_and_hardware_none():
    page = html.render(results(device_class="emulated", inventory={"emulated_nic": "virtio-net (QEMU)"}))
    assert "emulated NIC — not a hardware qualification" in page and "virtio-net (QEMU)" in page
    assert "not a hardware qualification" not in html.render(results(device_class="hardware"))
    assert "software devices — not a hardware qualification" in summary_markdown(results())


def test_hdrhistogram_percentile_distribution():
    text = hgrm({"name": "latency_us_64B", "unit": "us", "max": 2.9,
                 "buckets": [[0.5, 1.0, 2], [1.0, 2.0, 6], [2.0, 4.0, 2]]})
    lines = text.splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = [line.split() for line in lines[2:] if line and not line.startswith("#")]
    assert [r[:3] for r in rows] == [["1.000", "0.200000000000", "2"], ["2.000", "0.800000000000", "8"],
                                     ["2.900", "1.000000000000", "10"]]
    assert rows[0][3] == "1.25" and len(rows[-1]) == 3  # 1/(1-p); none at p = 1
    assert lines[-3].startswith("#[Mean") and "Total count    =           10" in lines[-2]


def test_line_chart_is_generic():
    chart = svg.line_chart("pps over time", [svg.Series("rx", [(0, 1e6), (10, 1.1e6), (20, 0.9e6)])],
                           unit="pps", x_unit="s")
    ET.fromstring(chart)
    assert chart.count("<circle") == 3 and "(log scale)" not in chart and ">s<" in chart
