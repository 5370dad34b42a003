"""report.html and its SVG charts, from synthetic results (no DPDK, no root)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from harness.report import html, svg
from harness.report.results import figure_record

PPS = "suites/throughput/test_max_rate.py::test_delivered_rate_meets_target[{}B]"
SPREAD = "suites/rss/test_rss_spread.py::test_spread_measured[tap]"
LAT = "suites/latency/test_latency.py::test_latency[64B]"
HASH = "suites/rss/test_rss_hash.py::test_hash_matches_toeplitz"


def fig(test, name, value, unit="", target=None, op=">=", **extra):
    passed = None if target is None else (value >= target if op == ">=" else value <= target)
    return figure_record({"test": test, "name": name, "value": value, "unit": unit, "target": target, "op": op,
                          "passed": passed, "extra": extra})


def synthetic(**over):
    figs = [fig(PPS.format(s), f"rx_pps_{s}B", v, "pps", t, min=v * 0.9, max=v * 1.05)
            for s, v, t in ((64, 1.4e7, 1e6), (512, 2.3e6, 1e6), (1518, 4e5, 4.75e5))]
    figs.append(fig(PPS.format(64), "loss_ratio_64B", 0.0, "", 0.0, "<="))
    figs += [fig(SPREAD, f"rss_queue{q}_pkts", v, "pkts") for q, v in enumerate((260, 250, 241, 273))]
    figs += [fig(SPREAD, "rss_chi2_p", 0.41, "", 0.01), fig(SPREAD, "rss_flows", 1024, "flows")]
    figs += [fig(LAT, "latency_p99_us", 12.5, "us", 10.0, "<="), fig(LAT, "latency_p50_us", 3.1, "us"),
             fig(LAT, "latency_max_us", 80.0, "us")]
    res = {
        "format": "dpdk-harness-results", "format_version": 2, "harness_version": "0.1.0",
        "profile": {"name": "nic-pair-10g", "path": "profiles/nic-pair-10g.toml"}, "hostname": "hostA",
        "finished": "2026-01-01T00:00:00+00:00", "exit_status": 1, "interrupted": False, "probe_fault": None,
        "outcomes": {"passed": 4, "failed": 2, "skipped": 1},
        "inventory": {"cpu_model": "Intel(R) Xeon(R) Gold 6338", "cpu_flags": "sse4_2 avx2 avx512f pdpe1gb",
                      "cpus_online": "0-63", "numa_nodes": "0-1", "kernel": "6.1.0-18-amd64",
                      "cmdline_isolcpus": "2-31", "cmdline_nohz_full": "", "hugepages": "1048576kB: 8 total, 4 free",
                      "dpdk_version": "DPDK 22.11.4"},
        "ports": [{"port": 0, "name": "0000:03:00.0", "driver": "net_ixgbe", "pci": "0000:03:00.0",
                   "topology": "nic", "role": "nic0", "link": "up", "speed_mbps": 10000, "socket": 0,
                   "firmware": "0x800003e2"},
                  {"port": 1, "name": "0000:03:00.1", "driver": "net_ixgbe", "pci": "0000:03:00.1",
                   "topology": "nic", "role": "nic1", "link": "down", "speed_mbps": 0}],
        "tests": [{"nodeid": PPS.format(s), "suite": "throughput", "outcome": o, "duration_s": 1.5, "message": m}
                  for s, o, m in ((64, "passed", ""), (512, "passed", ""), (1518, "failed", "4e5 < 4.75e5"))]
                 + [{"nodeid": SPREAD, "suite": "rss", "outcome": "passed", "duration_s": 0.4, "message": ""},
                    {"nodeid": HASH, "suite": "rss", "outcome": "skipped", "duration_s": 0.0,
                     "message": "net_ring (a) reports no RSS hash functions"},
                    {"nodeid": LAT, "suite": "latency", "outcome": "failed", "duration_s": 2.0,
                     "message": "p99 <b>12.5</b> us", "failed_figures": ["latency_p99_us"]}],
        "figures": figs,
        "skips": [{"check": HASH, "reason": "net_ring (a) reports no RSS hash functions"}],
    }
    res.update(over)
    return res


class _Refs(HTMLParser):
    """Every src/href and every tag, to check the page needs nothing from elsewhere."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href", "xlink:href", "data", "action") and v]


def test_page_is_self_contained():
    page = html.render(synthetic())
    p = _Refs()
    p.feed(page)
    assert all(r.startswith("#") for r in p.refs), [r for r in p.refs if not r.startswith("#")]
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(p.tags)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    assert "@import" not in page and "url(" not in page
    assert p.tags.count("svg") == 3  # throughput, one RSS group, one latency group


def test_page_holds_inventory_ports_verdicts_skips():
    page = html.render(synthetic())
    for text in ("Intel(R) Xeon(R) Gold 6338", "sse4_2 avx2 avx512f pdpe1gb", "0-63", "6.1.0-18-amd64",
                 "2-31", "1048576kB: 8 total, 4 free", "DPDK 22.11.4", "nic-pair-10g",
                 "0000:03:00.0", "net_ixgbe", "0x800003e2", "10 Gbit/s"):
        assert text in page, text
    assert "not set" in page  # nohz_full is empty: the page says so instead of a blank
    assert "Verdicts per suite" in page and 'id="suite-throughput"' in page and 'id="suite-rss"' in page
    assert "Measured vs target" in page and "&gt;= 475,000" in page
    assert "Skipped checks" in page and "net_ring (a) reports no RSS hash functions" in page
    assert "p99 &lt;b&gt;12.5&lt;/b&gt; us" in page  # messages are escaped
    assert "FAIL: 2 check(s) failed" in page


def test_charts_are_made_from_the_figure_names():
    page = html.render(synthetic())
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    for s in svgs:
        ET.fromstring(s)  # well-formed XML
    thr, rss, lat = svgs
    assert "Rate vs frame size" in thr and all(f">{s}B<" in thr for s in (64, 512, 1518))
    assert thr.count('class="tg"') == 3 and thr.count('class="wh"') == 3  # targets and min..max whiskers
    assert svg.COLOURS[False] in thr and svg.COLOURS[True] in thr  # the 1518B bar failed its target
    assert all(f">q{q}<" in rss for q in range(4)) and "even share 256" in rss
    assert "chi-square p 0.41 (PASS)" in page and "max/min 1.13" in page
    assert lat.index(">p50<") < lat.index(">p99<") < lat.index(">max<")  # percentiles in order
    assert "Gbit/s on the wire" in page


def test_no_charts_without_the_figures():
    res = synthetic(figures=[fig("t.py::test_a", "wire_frames_lost", 0, "frames", 0, "<=")])
    page = html.render(res)
    assert "<svg" not in page and "No charted figures" in page


def test_vdev_ports_show_what_is_known():
    res = synthetic(ports=[{"port": 0, "name": "net_ring_dhw1_a", "driver": "net_ring", "topology": "ring_wire",
                            "role": "a", "link": "up", "speed_mbps": 10000}])
    page = html.render(res)
    assert "virtual device" in page and "net_ring" in page and "Virtual-device (vdev) run" in page
    assert "unknown" in page  # firmware


@pytest.mark.parametrize("over, cls, words", [
    ({}, "FAIL", "2 check(s) failed"),
    ({"interrupted": True, "exit_status": 2}, "INCOMPLETE", "interrupted"),
    ({"exit_status": 0, "tests": [{"nodeid": "a.py::t", "suite": "a", "outcome": "passed", "duration_s": 0.1},
                                  {"nodeid": "a.py::s", "suite": "a", "outcome": "skipped", "duration_s": 0}],
      "outcomes": {"passed": 1, "skipped": 1}}, "PASS", "1 check(s) skipped, not verified"),
    ({"exit_status": 0, "tests": [], "outcomes": {}}, "INCOMPLETE", "NO CHECKS RAN"),
])
def test_overall_verdict(over, cls, words):
    got_cls, sentence = html.overall(synthetic(**over))
    assert got_cls == cls and words in sentence


def test_probe_fault_is_flagged():
    assert "PROBE FAULT leak-unsent" in html.render(synthetic(probe_fault="leak-unsent"))


def test_baseline_section_when_compared():
    from harness.report import baseline

    base = synthetic()
    cur = synthetic()
    cur["figures"] = [dict(f, value=f["value"] * 0.8) if f["name"] == "rx_pps_64B" else f for f in cur["figures"]]
    cur["baseline"] = baseline.compare(cur, dict(base, name="hostA"), 0.05).to_dict()
    page = html.render(cur)
    assert "Baseline comparison" in page and "hostA" in page
    assert 'badge REGRESSION">REGRESSION' in page and "-20.0%" in page
    assert "regression(s) against baseline hostA" in page


@pytest.mark.parametrize("top, ticks", [(9.5, [0, 2, 4, 6, 8, 10]), (1.2e6, [0, 250000, 500000, 750000, 1e6, 1.25e6]),
                                        (0, [0, 1])])
def test_nice_ticks(top, ticks):
    assert svg.nice_ticks(top) == pytest.approx(ticks)


def test_bar_chart_survives_odd_values():
    out = svg.bar_chart("t", [svg.Bar("a", float("nan")), svg.Bar("b", 0.0, target=0.0, op="<="),
                              svg.Bar("c", -3.0)], unit="x")
    ET.fromstring(out)
    assert "n/a" in out
