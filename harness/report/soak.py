"""The soak section of report.html: each sampled series over time, with its least-squares trend.

Built on svg.py's helpers (``nice_ticks``, ``si``, ``COLOURS``) and report.html's CSS classes, so it
looks like the other charts; only the line-and-trend drawing is its own.
"""
from __future__ import annotations

import math
from html import escape

from harness.report import svg

#: (series key, chart title, unit, the check that judges its slope)
CHARTS = (
    ("in_use", "mbufs in use (less those in the wire)", "mbufs", "soak_mbufs_in_use_slope"),
    ("free_min", "lowest free mbufs in the pool under load, per window (headroom)", "mbufs",
     "soak_pool_headroom_min"),
    ("rx_nombuf", "rx_nombuf, cumulative", "mbufs", "soak_rx_nombuf_rate"),
    ("imissed", "imissed, cumulative", "frames", "soak_imissed_rate"),
    ("ctx_nonvoluntary", "worker involuntary context switches, cumulative", "switches",
     "soak_worker_involuntary_ctx_switches"),
)


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    k = sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0
    return k, mv - k * mt


def series_chart(title: str, points: list[tuple[float, float]], *, unit: str = "", passed: bool | None = None,
                 subtitle: str = "", width: int = 640, height: int = 220) -> str:
    """An ``<svg>`` line chart of ``(seconds, value)`` points with their least-squares trend (dashed)."""
    pts = [(t, v) for t, v in points if math.isfinite(t) and math.isfinite(v)]
    if not pts:
        return ""
    lo = min(0.0, min(v for _, v in pts))
    ticks = svg.nice_ticks(max(max(v for _, v in pts) - lo, 1e-9))
    ymax = lo + (ticks[-1] or 1.0)
    tmax = max(t for t, _ in pts) or 1.0
    left, right, top, bottom = 64, 16, 44 if subtitle else 30, 40
    pw, ph = width - left - right, height - top - bottom
    x = lambda t: left + (t / tmax) * pw  # noqa: E731
    y = lambda v: top + ph - ((v - lo) / (ymax - lo or 1.0)) * ph  # noqa: E731
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<text x="{left}" y="18" class="ct">{escape(title)}</text>']
    if subtitle:
        out.append(f'<text x="{left}" y="33" class="ax">{escape(subtitle)}</text>')
    for tk in ticks:
        yy = y(lo + tk)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="ax">{svg.si(lo + tk)}</text>')
    for tk in svg.nice_ticks(tmax, 6):
        if tk <= tmax:
            out.append(f'<text x="{x(tk):.1f}" y="{top + ph + 16}" text-anchor="middle" class="ax">{tk:g} s</text>')
    if unit:
        out.append(f'<text x="14" y="{top + ph / 2:.1f}" transform="rotate(-90 14 {top + ph / 2:.1f})" '
                   f'text-anchor="middle" class="ax">{escape(unit)}</text>')
    path = "".join(f"{'M' if i == 0 else 'L'}{x(t):.1f} {y(v):.1f}" for i, (t, v) in enumerate(pts))
    out.append(f'<path d="{path}" fill="none" stroke="{svg.COLOURS[passed]}" stroke-width="1.5"/>')
    for t, v in pts:
        out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2" fill="{svg.COLOURS[passed]}">'
                   f'<title>{t:.0f} s: {v:.6g} {escape(unit)}</title></circle>')
    if len(pts) >= 2:
        k, b = _fit(pts)
        t0, t1 = pts[0][0], pts[-1][0]
        out.append(f'<line x1="{x(t0):.1f}" y1="{y(k * t0 + b):.1f}" x2="{x(t1):.1f}" y2="{y(k * t1 + b):.1f}" '
                   f'class="tg"><title>trend {k:+.4g} {escape(unit)}/s</title></line>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>'
               f'<text x="{left}" y="{height - 6}" class="ax"><tspan class="tgk">- - -</tspan> least-squares trend '
               "(the verdict is on its slope)</text></svg>")
    return "".join(out)

#: a chart's verdict; None: the ports keep no such counter, or an emulator never moves it (the check says which)
VERDICT = {True: "PASS", False: "FAIL", None: "SKIP (not judgeable: the counter cannot move here)"}


def section(soak: dict | None) -> str:
    """The "Soak" section's HTML, or '' when the run was not a soak."""
    if not soak or not soak.get("samples"):
        return ""
    samples = soak["samples"]
    checks = {c["name"]: c for c in soak.get("checks", [])}
    head = (f"<p>{len(samples)} samples, one every {soak.get('interval_s', 0):g} s, over "
            f"{soak.get('duration_s', 0):g} s of continuous traffic. Each check is judged on the slope of its "
            "series over the whole soak, not on its end points.</p>")
    charts = []
    for key, title, unit, check in CHARTS:
        c = checks.get(check, {})
        sub = (f"{check}: {c['value']:.4g} {c.get('unit', '')} (target {c.get('op', '')} {c.get('target', 0):.4g}) "
               f"{VERDICT[c.get('passed')]}") if c else ""
        # free_min: samples of an older soak have only the free count after each window
        points = [(s["t"], float(s[key] if s.get(key) is not None else s["free"])) for s in samples]
        charts.append(series_chart(title, points, unit=unit, passed=c.get("passed"), subtitle=sub))
    return head + "".join(charts)
