"""The report's charts (inline SVG, :mod:`harness.report.svg`) with their tables: rate vs frame size,
RSS per-queue spread, latency percentiles."""
from __future__ import annotations

import re
from html import escape

from harness.report import svg
from harness.report.markup import clip, num, table, verdict_cell, wire_text
from harness.report.results import LATENCY_ORDER, fmt, measured_text

_QUEUE_RE = re.compile(r"^(?P<prefix>.*?)queue(?P<q>\d+)_(?P<unit>[A-Za-z]+)$")


_RATE_METRICS = ("rx_pps", "ndr_pps", "rate_at_loss_pps")


def throughput_chart(figures: list[dict]) -> str:
    pts = [(f["frame_size"], f) for f in figures if f.get("metric") in _RATE_METRICS and f.get("frame_size")]
    if not pts:
        return ""
    pts.sort(key=lambda p: p[0])
    sizes = [s for s, _ in pts]
    dup = len(set(sizes)) != len(sizes)
    bars, rows = [], []
    loss = {f["frame_size"]: f for f in figures if f.get("metric") == "loss_ratio" and f.get("frame_size")}
    pdr = {(f["test"], f["frame_size"]): f for f in figures if f.get("metric") == "pdr_pps"}
    for size, f in pts:
        ex = f.get("extra") or {}
        label = f"{size}B" + (f" ({f['test'].split('::', 1)[-1]})" if dup else "")
        tester_bound = f.get("bound") == "tester"
        bars.append(svg.Bar(label, f["value"], f.get("target"), f.get("op", ">="), num(ex.get("min")),
                            num(ex.get("max")), f.get("passed"), lower_bound=tester_bound,
                            note="tester limit; device not saturated" if tester_bound else ""))
        lf = loss.get(size)
        p = pdr.get((f["test"], size))
        rows.append([escape(label), escape(measured_text(f)), escape(fmt(num(ex.get("min")))),
                     escape(fmt(num(ex.get("max")))), escape(f.get("target_text") or "-"), wire_text(f) or "-",
                     escape(measured_text(p)) if p else "-",
                     escape(fmt(lf["value"])) if lf else "-", verdict_cell(f)])
    chart = svg.bar_chart("Rate vs frame size (median of repeats)", bars, unit="packets/s")
    tab = table(["frame", "pps (median)", "min", "max", "target", "on the wire", "PDR pps", "loss ratio",
                    "verdict"], rows, num_cols=(1, 2, 3, 6, 7))
    notes = []
    if any(f.get("bound") == "tester" for _, f in pts):
        notes.append("≥: the search passed at the most the tester could offer, so the device was not saturated; "
                     "its real limit is higher, and this run does not measure it.")
    if any(f.get("above_link") for _, f in pts):
        notes.append("A rate above the link speed the port reports: that speed is nominal (a software device's "
                     "PMD reports one), not a limit frames met.")
    return (f"<h3>Throughput vs frame size</h3><div class='charts'>{chart}</div>{tab}"
            + "".join(f'<p class="muted small">{escape(n)}</p>' for n in notes))


def rss_charts(figures: list[dict]) -> str:
    groups: dict[tuple[str, str, str], list[tuple[int, dict]]] = {}
    for f in figures:
        m = _QUEUE_RE.match(f["name"])
        if m and f.get("queue") is not None:
            groups.setdefault((f["test"], m.group("prefix"), m.group("unit")), []).append((int(f["queue"]), f))
    if not groups:
        return ""
    charts = []
    for (test, prefix, unit), qs in groups.items():
        qs.sort(key=lambda x: x[0])
        values = [f["value"] for _, f in qs]
        mean = sum(values) / len(values) if values else 0
        bars = [svg.Bar(f"q{q}", f["value"], f.get("target"), f.get("op", ">="), passed=f.get("passed")) for q, f in qs]
        same = {g["name"]: g for g in figures if g["test"] == test}
        notes = [f"{len(qs)} queues", f"total {fmt(sum(values))} {unit}"]
        if values and min(values) > 0 and f"{prefix}max_min_ratio" not in same:
            notes.append(f"max/min {max(values) / min(values):.3g}")
        for key, label in ((f"{prefix}chi2_p", "chi-square p"), (f"{prefix}max_min_ratio", "max/min (check)"),
                           (f"{prefix}flows", "flows")):
            g = same.get(key)
            if g:
                notes.append(f"{label} {fmt(g['value'])}" + (f" ({g['verdict']})" if g.get("verdict") else ""))
        chart = svg.bar_chart(f"{prefix}queue<N>_{unit}", bars, unit=unit, reference=mean,
                              reference_label=f"even share {fmt(mean)}", subtitle=test.split("::", 1)[-1],
                              width=max(440, min(1100, 90 + 52 * len(bars))))
        caption = f"<figcaption class='muted small'>{escape('; '.join(notes))}</figcaption>"
        charts.append(f"<figure>{chart}{caption}</figure>")
    return f"<h3>RSS per-queue spread</h3><div class='charts'>{''.join(charts)}</div>"


def frames_timed(h: dict) -> str:
    """What a latency histogram counts: ``1250 sampled frames (1 in 16)``, the generator having stamped 1
    frame in ``sample_period``; ``N frames`` from a run that did not say (it stamped every frame)."""
    frames, period = h.get("frames", ""), h.get("sample_period")
    if isinstance(period, int) and period > 1:
        return f"{frames} sampled frames (1 in {period})"
    return f"{frames} frames"


def latency_charts(figures: list[dict], histograms: list[dict] = ()) -> str:
    """One chart per measured path: min, p50, p90, p99, p99.9, max in that order, on a log axis, one line
    per frame size, with the profile's limits; the path named; the histograms' exports linked."""
    groups: dict[str, dict[str, dict[str, dict]]] = {}  # path -> series (frame size) -> stat -> figure
    units = {}
    for f in figures:
        if f.get("stat") in LATENCY_ORDER and "latency" in f.get("metric", ""):
            path = str((f.get("extra") or {}).get("path") or f["test"].split("::", 1)[-1])
            label = f"{f['frame_size']}B" if f.get("frame_size") else f["test"].split("::", 1)[-1]
            groups.setdefault(path, {}).setdefault(label, {})[f["stat"]] = f
            units[path] = f.get("unit") or "us"
    if not groups:
        return ""
    ticks = list(enumerate(LATENCY_ORDER))
    charts, notes = [], []
    for path, by_series in groups.items():
        series = []
        for label, stats in by_series.items():
            pts = [(i, stats[s]["value"]) for i, s in ticks
                   if s in stats and isinstance(stats[s]["value"], (int, float))]
            tg = [(i, stats[s]["target"]) for i, s in ticks if s in stats and stats[s].get("target") is not None]
            series.append(svg.Series(label, pts, tg or None))
        charts.append(svg.line_chart("Latency percentiles", series, unit=units[path], log_y=True, x_ticks=ticks,
                                     subtitle=clip(f"path: {path}", 84), width=560))
        notes.append(f"measured path: {path}")
    files = [h for h in histograms if h.get("file")]
    links = ""
    if files:
        links = ("<p class='small'>Histograms, HdrHistogram percentile-distribution format (.hgrm, next to this "
                 "report): " + ", ".join(f"<code>{escape(h['file'])}</code> ({escape(frames_timed(h))})"
                                        for h in files) + "</p>")
    return (f"<h3>Latency percentiles</h3><div class='charts'>{''.join(charts)}</div>"
            + "".join(f'<p class="muted small">{escape(n)}</p>' for n in notes) + links)


def charts_section(results: dict) -> str:
    figs = [f for f in results.get("figures", []) if isinstance(f.get("value"), (int, float))]
    parts = [throughput_chart(figs), rss_charts(figs), latency_charts(figs, results.get("histograms") or [])]
    parts = [p for p in parts if p]
    if not parts:
        return ('<p class="muted">No charted figures in this run (rx_pps_&lt;size&gt;B, *queue&lt;N&gt;_pkts, '
                'latency_p&lt;N&gt;_us).</p>')
    return "".join(parts)
