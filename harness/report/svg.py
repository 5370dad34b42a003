"""Inline SVG charts for report.html: no JavaScript, no external assets.

Two generic charts:

* :func:`bar_chart`: bars on a linear axis from 0, each bar optionally with a target (a dashed line
  across its slot), a min..max whisker and a verdict colour (a lower bound, e.g. a tester-bound rate,
  is drawn hatched and labelled "≥"); a horizontal reference line (an even share, say) may span it.
* :func:`line_chart`: series of (x, y) points on a linear or log y axis, with named x ticks or a
  numeric x axis (percentiles of a latency, or a time series), and optional target marks.

Hovering a bar or a point shows its exact value through the SVG ``<title>`` element.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

COLOURS = {True: "#2e7d32", False: "#c62828", None: "#1f5fa8"}
LOWER_BOUND = "#8a8f98"  # a value that is only a lower bound: never a plain verdict colour
SERIES = ("#1f5fa8", "#d9730d", "#2e7d32", "#6a1b9a", "#c62828", "#00838f")


@dataclass
class Bar:
    label: str
    value: float
    target: float | None = None
    op: str = ">="
    lo: float | None = None
    hi: float | None = None
    passed: bool | None = None
    note: str = ""
    lower_bound: bool = False   # the true value may be higher (e.g. the tester could offer no more)


def si(v: float) -> str:
    """1234567 -> 1.23M: short labels for axes and bars."""
    if v is None or not math.isfinite(v):
        return str(v)
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def nice_ticks(top: float, n: int = 5) -> list[float]:
    """Round tick values from 0 covering ``top``: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12 * top:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _head(title: str, width: int, height: int, left: int) -> list[str]:
    """The opening ``<svg>`` tag, its accessible title and the visible title of a chart."""
    return [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{escape(title)}">',
            f'<title>{escape(title)}</title>',
            f'<text x="{left}" y="18" class="ct">{escape(title)}</text>']


def _y_axis(out: list[str], subtitle: str, ticks, y, label: str, *, left: float, top: float, pw: float,
            ph: float) -> None:
    """Append the subtitle, the y grid lines with their tick labels, and the rotated y-axis label."""
    if subtitle:
        out.append(f'<text x="{left}" y="33" class="ax">{escape(subtitle)}</text>')
    for t in ticks:
        yy = y(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="ax">{si(t)}</text>')
    if label:
        out.append(f'<text x="14" y="{top + ph / 2:.1f}" transform="rotate(-90 14 {top + ph / 2:.1f})" '
                   f'text-anchor="middle" class="ax">{escape(label)}</text>')


def _close(out: list[str], legend: list[str], left: int, height: int) -> str:
    """The legend line (if any) and the closing tag; the chart as text."""
    if legend:
        out.append(f'<text x="{left}" y="{height - 6}" class="ax">{"  ·  ".join(legend)}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, bars: list[Bar], *, unit: str = "", reference: float | None = None,
              reference_label: str = "", subtitle: str = "", width: int = 640, height: int = 260) -> str:
    """An ``<svg>`` element (as text) charting ``bars``."""
    finite = [b for b in bars if b.value is not None and math.isfinite(b.value)]
    tops = [b.value for b in finite] + [b.target for b in bars if b.target is not None and math.isfinite(b.target)]
    tops += [b.hi for b in bars if b.hi is not None and math.isfinite(b.hi)]
    if reference is not None and math.isfinite(reference):
        tops.append(reference)
    ticks = nice_ticks(max(tops, default=1.0) or 1.0)
    ymax = ticks[-1] or 1.0
    left, right, top, bottom = 64, 16, 44 if subtitle else 30, 46
    pw, ph = width - left - right, height - top - bottom
    y = lambda v: top + ph - (max(0.0, v) / ymax) * ph  # noqa: E731
    out = _head(title, width, height, left)
    if any(b.lower_bound for b in bars):
        out.append('<defs><pattern id="lowerbound" width="6" height="6" patternUnits="userSpaceOnUse" '
                   f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
                   f'<rect width="3" height="6" fill="{LOWER_BOUND}"/></pattern></defs>')
    _y_axis(out, subtitle, ticks, y, unit, left=left, top=top, pw=pw, ph=ph)
    n = max(len(bars), 1)
    slot = pw / n
    bw = min(slot * 0.6, 80)
    for i, b in enumerate(bars):
        cx = left + slot * (i + 0.5)
        tip = f"{b.label}: {b.value:.6g} {unit}".strip()
        if b.target is not None:
            tip += f" (target {b.op} {b.target:.6g})"
        if b.note:
            tip += f"; {b.note}"
        if b.value is not None and math.isfinite(b.value):
            yy = y(b.value)
            fill = "url(#lowerbound)" if b.lower_bound else COLOURS[b.passed]
            out.append(f'<rect x="{cx - bw / 2:.1f}" y="{yy:.1f}" width="{bw:.1f}" height="{top + ph - yy:.1f}" '
                       f'fill="{fill}"><title>{escape(tip)}</title></rect>')
            above = max(b.value, b.hi) if b.hi is not None and math.isfinite(b.hi) else b.value
            label = ("≥ " if b.lower_bound else "") + si(b.value)
            out.append(f'<text x="{cx:.1f}" y="{y(above) - 5:.1f}" text-anchor="middle" class="bv">'
                       f'{label}</text>')
        else:
            out.append(f'<text x="{cx:.1f}" y="{top + ph - 4:.1f}" text-anchor="middle" class="bv">n/a</text>')
        if b.lo is not None and b.hi is not None and math.isfinite(b.lo) and math.isfinite(b.hi):
            out.append(f'<path d="M{cx:.1f} {y(b.lo):.1f}V{y(b.hi):.1f}M{cx - 6:.1f} {y(b.lo):.1f}h12'
                       f'M{cx - 6:.1f} {y(b.hi):.1f}h12" class="wh">'
                       f'<title>min {b.lo:.6g}, max {b.hi:.6g}</title></path>')
        if b.target is not None and math.isfinite(b.target):
            ty = y(b.target)
            out.append(f'<line x1="{cx - slot * 0.45:.1f}" x2="{cx + slot * 0.45:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" '
                       f'class="tg"><title>target {escape(b.op)} {b.target:.6g}</title></line>')
        out.append(f'<text x="{cx:.1f}" y="{top + ph + 16}" text-anchor="middle" class="ax">{escape(b.label)}</text>')
    if reference is not None and math.isfinite(reference):
        ry = y(reference)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{ry:.1f}" y2="{ry:.1f}" class="ref">'
                   f'<title>{escape(reference_label or si(reference))}</title></line>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>')
    legend = []
    if reference is not None and math.isfinite(reference):
        legend.append(f'<tspan class="refk">· · ·</tspan> {escape(reference_label or si(reference))}')
    if any(b.target is not None for b in bars):
        legend.append('<tspan class="tgk">- - -</tspan> target')
    if any(b.lo is not None for b in bars):
        legend.append("whisker: min..max")
    if any(b.lower_bound for b in bars):
        legend.append("hatched ≥: lower bound (tester limit; device not saturated)")
    return _close(out, legend, left, height)


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades (1, 10, 100 ...) covering [lo, hi], both > 0; with 2 and 5 between when few decades."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        b += 1
    steps = (1, 2, 5) if b - a <= 3 else (1,)
    return [m * 10.0 ** e for e in range(a, b + 1) for m in steps if m * 10.0 ** e <= 10.0 ** b]


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]   # (x, y); a y of None or <= 0 on a log axis is left out
    targets: list[tuple[float, float]] | None = None   # (x, limit): drawn as short dashes


def line_chart(title: str, series: list[Series], *, unit: str = "", log_y: bool = False,
               x_ticks: list[tuple[float, str]] | None = None, x_unit: str = "", subtitle: str = "",
               width: int = 640, height: int = 280) -> str:
    """An ``<svg>`` element (as text): each series a polyline with dots; y linear from 0 or log.

    ``x_ticks`` names the x positions (e.g. ``[(0, "min"), (1, "p50"), ...]``); without it the x axis
    is numeric (e.g. seconds of a time series) with round ticks.
    """
    pts = [(x, y) for s in series for x, y in s.points if y is not None and math.isfinite(y) and (y > 0 or not log_y)]
    pts += [(x, y) for s in series for x, y in (s.targets or []) if y is not None and math.isfinite(y) and y > 0]
    xs = [x for x, _ in pts] + [x for x, _ in (x_ticks or [])]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1
    left, right, top, bottom = 64, 16, 44 if subtitle else 30, 46
    pw, ph = width - left - right, height - top - bottom
    ys = [y for _, y in pts]
    if log_y:
        yt = log_ticks(min(ys, default=1.0), max(ys, default=10.0))
        l0, l1 = math.log10(yt[0]), math.log10(yt[-1])
        y = lambda v: top + ph - (math.log10(v) - l0) / ((l1 - l0) or 1) * ph  # noqa: E731
    else:
        yt = nice_ticks(max(ys, default=1.0) or 1.0)
        y = lambda v: top + ph - (max(0.0, v) / (yt[-1] or 1.0)) * ph  # noqa: E731
    pad = 0.04 * pw
    x = lambda v: left + pad + (v - x0) / (x1 - x0) * (pw - 2 * pad)  # noqa: E731
    out = _head(title, width, height, left)
    _y_axis(out, subtitle, yt, y, unit + (" (log scale)" if log_y else "") if unit else "",
            left=left, top=top, pw=pw, ph=ph)
    ticks = x_ticks if x_ticks is not None else [(t, si(t)) for t in nice_ticks(x1) if x0 <= t <= x1]
    for tx, label in ticks:
        out.append(f'<text x="{x(tx):.1f}" y="{top + ph + 16}" text-anchor="middle" class="ax">{escape(label)}</text>')
    if x_unit:
        out.append(f'<text x="{left + pw:.1f}" y="{top + ph + 30}" text-anchor="end" class="ax">'
                   f'{escape(x_unit)}</text>')
    names = dict(x_ticks or [])
    for i, s in enumerate(series):
        colour = SERIES[i % len(SERIES)]
        good = [(px, py) for px, py in s.points if py is not None and math.isfinite(py) and (py > 0 or not log_y)]
        if len(good) > 1:
            d = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in good)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py in good:
            tip = f"{s.label} {names.get(px, si(px))}: {py:.6g} {unit}".strip()
            out.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3.5" fill="{colour}"><title>{escape(tip)}'
                       '</title></circle>')
        for px, py in s.targets or []:
            if py is not None and math.isfinite(py) and py > 0:
                out.append(f'<line x1="{x(px) - 9:.1f}" x2="{x(px) + 9:.1f}" y1="{y(py):.1f}" y2="{y(py):.1f}" '
                           f'class="tg"><title>{escape(s.label)} limit {py:.6g} {escape(unit)}</title></line>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" class="axis"/>')
    legend = [f'<tspan fill="{SERIES[i % len(SERIES)]}" font-weight="700">●</tspan> {escape(s.label)}'
              for i, s in enumerate(series)]
    if any(s.targets for s in series):
        legend.append('<tspan class="tgk">- - -</tspan> limit')
    return _close(out, legend, left, height)
