"""One measured figure as the reports show it: its record in results.json and its text for people.

:func:`figure_record` turns a session Figure (or a record from an older results.json) into the
fields every report reads: what the name encodes (frame size, queue, latency statistic), numbers
as numbers, the verdict and the target as text. :func:`fmt` and :func:`measured_text` are how a
value is written for people (a tester-bound rate is a lower bound); :func:`wire` is a packet rate's
bit rate on the wire and its share of the link. The run as a whole is :mod:`harness.report.results`.
"""
from __future__ import annotations

import math
import re
from typing import Any

WIRE_OVERHEAD_BYTES = 20  # preamble + SFD (8) and inter-frame gap (12): what a frame costs on the wire


def verdict(passed: bool | None) -> str:
    return {None: "", True: "PASS", False: "FAIL"}[passed]


def fmt(v) -> str:
    """A figure for people: thousands separated from 1000 up, four significant digits below."""
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def target_text(target, op: str) -> str:
    return f"{op} {fmt(target)}" if target is not None else ""


_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SIZE_RE = re.compile(r"^(?P<metric>.+)_(?P<size>\d+)B$")
_QUEUE_RE = re.compile(r"queue(?P<q>\d+)(?=_|$)")
_LAT_RE = re.compile(r"(?:^|_)latency_(?P<stat>p\d+(?:\.\d+)?|min|max|mean|avg|median)_(?P<unit>ns|us|ms)(?:_|$)")
#: latency statistics in the order they are read (and charted)
LATENCY_ORDER = ("min", "p50", "p90", "p99", "p99.9", "max")
_STAT_ALIASES = {"p999": "p99.9", "p9999": "p99.99", "median": "p50", "avg": "mean"}


def number(v):
    """A value for machines: numbers (and numeric strings) as JSON numbers, the rest as it is."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return v if not isinstance(v, float) or math.isfinite(v) else None
    if isinstance(v, str) and _NUMBER_RE.match(v.strip()):
        f = float(v)
        return int(f) if f.is_integer() and not any(c in v for c in ".eE") else f
    return v


def structure(name: str) -> dict[str, Any]:
    """What a figure's name encodes, as fields: ``ndr_pps_64B`` -> metric ndr_pps, frame_size 64;
    ``rss_queue3_pkts`` -> metric rss_queue_pkts, queue 3; ``latency_p999_us_64B`` -> stat p99.9."""
    out: dict[str, Any] = {"metric": name, "frame_size": None, "queue": None, "stat": None}
    m = _SIZE_RE.match(name)
    if m:
        out["metric"], out["frame_size"] = m.group("metric"), int(m.group("size"))
    q = _QUEUE_RE.search(out["metric"])
    if q:
        out["queue"] = int(q.group("q"))
        out["metric"] = out["metric"][:q.start()] + "queue" + out["metric"][q.end():]
    lat = _LAT_RE.search(out["metric"])
    if lat:
        stat = lat.group("stat")
        out["stat"] = _STAT_ALIASES.get(stat, stat)
    return out


def figure_record(f) -> dict:
    """A Figure (or its dict) as results.json lists it: always the same keys; frame size, queue and
    statistic as fields; numbers as numbers; the verdict and the target as text for people."""
    d = dict(f.__dict__) if hasattr(f, "__dict__") else dict(f)
    extra = {k: number(v) for k, v in (d.get("extra") or {}).items()}
    fields = structure(d["name"])
    for key in ("frame_size", "queue", "stat"):  # given explicitly (measure(..., frame_size=64)) wins
        if key in extra:
            fields[key] = extra.pop(key)
        elif d.get(key) is not None:
            fields[key] = d[key]
    bound = extra.get("bounded_by") or d.get("bound")
    rec = {
        "test": d["test"], "name": d["name"], "metric": d.get("metric") or fields["metric"],
        "value": number(d.get("value")), "unit": d.get("unit") or "",
        "target": number(d.get("target")), "op": d.get("op") or ">=", "passed": d.get("passed"),
        "frame_size": fields["frame_size"], "queue": fields["queue"], "stat": fields["stat"],
        # a rate the search could not push past its upper bound: a lower bound, not the device's limit
        "bound": {"tester ceiling": "tester", "line rate": "line rate"}.get(bound, bound),
        "extra": extra,
    }
    rec["verdict"] = verdict(rec["passed"])
    rec["target_text"] = target_text(rec["target"], rec["op"])
    return rec


def measured_text(f: dict) -> str:
    """The measured value as people should read it: a tester-bound rate is a lower bound."""
    text = fmt(f.get("value"))
    if f.get("bound") == "tester":
        return f"≥ {text} (tester limit; device not saturated)"
    if f.get("bound") == "line rate":
        return f"{text} (line rate)"
    return text


def wire(f: dict, link_gbps: float | None) -> dict[str, Any]:
    """On-wire bit rate of a packet rate with a frame size, its share of the link, and whether it is
    above the link speed (then the speed the port reports is not a real limit, e.g. a software device)."""
    size = f.get("frame_size")
    if f.get("unit") != "pps" or not size or not isinstance(f.get("value"), (int, float)):
        return {"wire_gbps": None, "link_gbps": None, "line_rate_share": None, "above_link": None}
    gbps = f["value"] * (size + WIRE_OVERHEAD_BYTES) * 8 / 1e9
    out: dict[str, Any] = {"wire_gbps": gbps, "link_gbps": link_gbps, "line_rate_share": None,
                           "above_link": False}
    if link_gbps:
        out["line_rate_share"] = gbps / link_gbps
        out["above_link"] = gbps > link_gbps * 1.0001
    return out


def with_wire(results: dict) -> dict:
    """Fill in the on-wire fields of figures that lack them (a results.json from an older harness, or
    made by hand): the link speed is the run's ``link_gbps``, else the slowest speed a port reports."""
    link = results.get("link_gbps")
    if link is None:
        link = slowest_link_gbps(results.get("ports", []))
    for f in results.get("figures", []):
        if "wire_gbps" not in f:
            f.update(wire(f, link))
    return results


def slowest_link_gbps(ports: list[dict]) -> float | None:
    """The slowest link speed these port records report, in Gbit/s; None when none reports one."""
    speeds = [p["speed_mbps"] for p in ports if isinstance(p.get("speed_mbps"), int) and p["speed_mbps"] > 0]
    return min(speeds) / 1000 if speeds else None
