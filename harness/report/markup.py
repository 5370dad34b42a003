"""Small HTML pieces the report's pages share: badges, tables, key/value tables, and the cells that
show a figure's verdict and its rate on the wire. Callers escape what they pass as HTML."""
from __future__ import annotations

import math
from html import escape


def badge(text: str, cls: str | None = None) -> str:
    return f'<span class="badge {escape(cls or text)}">{escape(text)}</span>'


def table(headers: list[str], rows: list[list[str]], *, cls: str = "", num_cols=()) -> str:
    """rows hold HTML already escaped by the caller."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in num_cols else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def kv(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def or_unknown(v, what: str = "not reported") -> str:
    if v is None or v == "":
        return f'<span class="muted">{escape(what)}</span>'
    return escape(str(v))


def wire_text(f: dict) -> str:
    """On-wire Gbit/s and % of line rate of a packet rate, flagged when above the link speed."""
    if f.get("wire_gbps") is None:
        return ""
    text = f"{f['wire_gbps']:.3g} Gbit/s on the wire"
    if f.get("line_rate_share") is not None:
        text += f", {f['line_rate_share']:.1%} of {f['link_gbps']:g} Gbit/s"
    html = escape(text)
    if f.get("above_link"):
        html += (f' <span class="flag">above the {f["link_gbps"]:g} Gbit/s link speed the port reports: '
                 "not a physical limit (software device)</span>")
    return html


def verdict_cell(f: dict) -> str:
    v = f.get("verdict") or ""
    if not v:
        return '<span class="muted">no target</span>'
    if f.get("bound") == "tester":
        return badge(f"{v}: lower bound", "bound")
    return badge(v)


def num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
