"""Reports of a run: the measured-vs-target table, results.json and summary.md in the report dir.

JUnit XML is pytest's own (``--junitxml``, pointed at the report dir by the plugin), carrying each
figure as a testcase property and the inventory as testsuite properties.
"""
from __future__ import annotations

import json
import pathlib

from harness import __version__

HEADERS = ["check", "figure", "measured", "unit", "target", "verdict"]


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def figure_rows(figures) -> list[list[str]]:
    rows = []
    for f in figures:
        verdict = {None: "", True: "PASS", False: "FAIL"}[f.passed]
        target = f"{f.op} {_fmt(f.target)}" if f.target is not None else "-"
        rows.append([f.test.split("::", 1)[-1], f.name, _fmt(f.value), f.unit, target, verdict])
    return rows


def write_reports(out: pathlib.Path, sess, outcomes: dict[str, int], exit_status: int, inventory: dict) -> None:
    """results.json and summary.md; written whatever the outcome, also after an interrupt."""
    from tabulate import tabulate

    out.mkdir(parents=True, exist_ok=True)
    rows = figure_rows(sess.figures)
    results = {
        "harness_version": __version__,
        "profile": {"name": sess.profile.name, "path": sess.profile.path},
        "exit_status": exit_status,
        "outcomes": outcomes,
        "inventory": inventory,
        "figures": [f.__dict__ for f in sess.figures],
        "skips": [{"check": n, "reason": r} for n, r in sess.skips],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = [f"# dpdk-harness summary: {sess.profile.name}", "",
          ", ".join(f"{v} {k}" for k, v in outcomes.items()) or "no tests ran", ""]
    if rows:
        md += [tabulate(rows, headers=HEADERS, tablefmt="github"), ""]
    if sess.skips:
        md += ["## Skipped checks", ""] + [f"- `{n}`: {r}" for n, r in sess.skips] + [""]
    (out / "summary.md").write_text("\n".join(md))
