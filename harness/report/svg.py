"""Inline SVG bar charts for report.html: no JavaScript, no external assets.

A chart is bars on a linear axis from 0, each bar optionally with a target (a dashed line across its
slot), a min..max whisker and a verdict colour; a horizontal reference line (an even share, say)
may span the chart. Hovering a bar shows its exact value through the SVG ``<title>`` element.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

COLOURS = {True: "#2e7d32", False: "#c62828", None: "#1f5fa8"}


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
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}">',
           f'<title>{escape(title)}</title>',
           f'<text x="{left}" y="18" class="ct">{escape(title)}</text>']
    if subtitle:
        out.append(f'<text x="{left}" y="33" class="ax">{escape(subtitle)}</text>')
    for t in ticks:
        yy = y(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="ax">{si(t)}</text>')
    if unit:
        out.append(f'<text x="14" y="{top + ph / 2:.1f}" transform="rotate(-90 14 {top + ph / 2:.1f})" '
                   f'text-anchor="middle" class="ax">{escape(unit)}</text>')
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
            out.append(f'<rect x="{cx - bw / 2:.1f}" y="{yy:.1f}" width="{bw:.1f}" height="{top + ph - yy:.1f}" '
                       f'fill="{COLOURS[b.passed]}"><title>{escape(tip)}</title></rect>')
            above = max(b.value, b.hi) if b.hi is not None and math.isfinite(b.hi) else b.value
            out.append(f'<text x="{cx:.1f}" y="{y(above) - 5:.1f}" text-anchor="middle" class="bv">'
                       f'{si(b.value)}</text>')
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
    if legend:
        out.append(f'<text x="{left}" y="{height - 6}" class="ax">{"  ·  ".join(legend)}</text>')
    out.append("</svg>")
    return "".join(out)
