"""Reports of a run, in the report dir: results.json, summary.md, report.html, and junit.xml completed.

JUnit XML is pytest's own (``--junitxml``, pointed at the report dir by the plugin), carrying each
figure as a testcase property and the inventory as testsuite properties; :func:`write_reports` adds
what only the end of the run knows (DPDK version, ports, a verdict per figure). Everything else is
made from one results dict (:mod:`harness.report.results`), so ``python -m harness report`` can
render a saved results.json again, and ``python -m harness baseline`` compares runs
(:mod:`harness.report.baseline`).

Modules: ``results`` (the data), ``junit`` (read/complete/validate junit.xml, ``junit.xsd``),
``html`` and ``svg`` (report.html), ``baseline`` (save, compare, judge a run), ``cli`` (commands).
"""
from __future__ import annotations

import json
import os
import pathlib
import sys

from harness.report import results as _results

HEADERS = ["check", "figure", "measured", "unit", "target", "verdict"]
_fmt = _results.fmt


def figure_rows(figures) -> list[list[str]]:
    """The measured-vs-target table (Figures or their dicts), as the terminal and summary.md show it."""
    rows = []
    for f in figures:
        f = _results.figure_record(f)
        rows.append([f["test"].split("::", 1)[-1], f["name"], _results.measured_text(f), f.get("unit", ""),
                     f["target_text"] or "-", f["verdict"]])
    return rows


def summary_markdown(results: dict) -> str:
    from tabulate import tabulate

    rows = figure_rows(results["figures"])
    md = [f"# dpdk-harness summary: {results['profile']['name']}", "",
          ", ".join(f"{v} {k}" for k, v in results["outcomes"].items() if v) or "no tests ran", ""]
    banner = device_banner(results)
    if banner:
        md += [f"**{banner}**", ""]
    if results.get("interrupted"):
        md += ["**The run was interrupted: these results are partial.**", ""]
    suites = results.get("suites") or _results.suite_verdicts(results.get("tests", []))
    if suites:
        md += ["## Verdicts per suite", "",
               tabulate([[s["suite"], s["verdict"], ", ".join(f"{s[o]} {o}" for o in _results.OUTCOMES if s.get(o))]
                         for s in suites], headers=["suite", "verdict", "checks"], tablefmt="github"), ""]
    if rows:
        table = tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True)
        md += ["## Measured vs target", "", table, ""]
    if results.get("skips"):
        md += ["## Skipped checks", ""] + [f"- `{s['check']}`: {s['reason']}" for s in results["skips"]] + [""]
    base = results.get("baseline")
    if base:
        md += ["## Baseline comparison", "",
               f"Against baseline {base['baseline']} (tolerance {base['tolerance']:.1%}): "
               f"{base['regressions']} regression(s); "
               + ", ".join(f"{n} {s}" for s, n in sorted(base["counts"].items())), ""]
    rerun = (results.get("run") or {}).get("rerun")
    if rerun:
        md += ["## Re-run", "", f"    {rerun}", ""]
    md += ["The full report, with the host inventory and charts: `report.html`.", ""]
    return "\n".join(md)


def device_banner(results: dict) -> str:
    """The banner a run on software or emulated devices carries: it is no hardware qualification."""
    cls = results.get("device_class")
    if cls == "software":
        return "software devices — not a hardware qualification"
    if cls == "emulated":
        return "emulated NIC — not a hardware qualification"
    return ""


def write_html(results: dict, path: pathlib.Path) -> pathlib.Path:
    from harness.report import html

    path.write_text(html.render(results), encoding="utf-8")
    return path


def write_reports(out: pathlib.Path, sess, outcomes: dict[str, int] | None, exit_status: int, inventory: dict, *,
                  stats: dict | None = None, junit_path: str | os.PathLike | None = None,
                  baseline=None, in_scope=None, invocation: dict | None = None) -> dict:
    """results.json, summary.md and report.html in ``out``; junit.xml completed with run facts.

    Written whatever the outcome, also after an interrupt. ``stats`` is ``terminalreporter.stats``
    (per-test verdicts and durations); without it they are read from the junit.xml pytest has
    just written (``junit_path``, default ``out/junit.xml``). ``baseline`` (a
    :class:`harness.report.baseline.BaselineCheck`) adds the comparison with a baseline.
    Returns the results dict. A report that cannot be written is named on stderr; the others are
    still written.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jpath = pathlib.Path(junit_path) if junit_path else out / "junit.xml"
    tests = _results.tests_from_stats(stats) if stats is not None else None
    sys_root = os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys")
    res = _results.build(sess, outcomes, exit_status, inventory, tests=tests, junit_path=jpath, sys_root=sys_root,
                         in_scope=in_scope, invocation=invocation)
    for h in res["histograms"]:
        h["file"] = hgrm_name(h)
    if baseline is not None:
        from harness.report import baseline as _baseline

        try:
            res["baseline"] = _baseline.compare(res, baseline.baseline, baseline.tolerance,
                                                abs_tolerance=baseline.abs_tolerance).to_dict()
        except Exception as exc:  # the comparison must not cost the run its reports
            _warn("baseline comparison", exc)
    steps = [
        ("results.json", lambda: (out / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")),
        ("summary.md", lambda: (out / "summary.md").write_text(summary_markdown(res))),
        ("report.html", lambda: write_html(res, out / "report.html")),
    ] + [(h["file"], lambda h=h: (out / h["file"]).write_text(hgrm(h))) for h in res["histograms"]]
    if jpath.is_file() and _results.fresh(jpath):
        from harness.report import junit

        interrupted = [t["nodeid"] for t in res["tests"] if t["outcome"] == "interrupted"]
        steps.append(("junit.xml", lambda: junit.complete(jpath, _results.junit_suite_properties(res),
                                                          _results.figure_verdicts(res), interrupted,
                                                          list(getattr(sess, "overloaded", ())))))
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            _warn(name, exc)
    return res


def hgrm_name(h: dict) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", h["name"]) + ".hgrm"


def hgrm(h: dict) -> str:
    """A latency histogram in HdrHistogram's percentile-distribution text (``outputPercentileDistribution``,
    ``.hgrm``): what HdrHistogram's plotter and HistogramLogAnalyzer read. One line per filled bucket,
    its value the bucket's highest, in ``h["unit"]`` (microseconds)."""
    top = h.get("max")
    buckets = [(lo, min(hi, top) if top is not None else hi, n) for lo, hi, n in h["buckets"] if n > 0]
    total = sum(n for _, _, n in buckets)
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    seen = 0
    sum_v = sum_sq = 0.0
    for lo, hi, n in buckets:
        seen += n
        mid = (lo + hi) / 2
        sum_v += mid * n
        sum_sq += mid * mid * n
        pct = seen / total
        inv = f"{1 / (1 - pct):14.2f}" if pct < 1 else ""
        lines.append(f"{hi:12.3f} {pct:14.12f} {seen:10d} {inv}".rstrip())
    mean = sum_v / total if total else 0.0
    std = max(0.0, sum_sq / total - mean * mean) ** 0.5 if total else 0.0
    top = top if top is not None else (buckets[-1][1] if buckets else 0.0)
    lines += [f"#[Mean    = {mean:12.3f}, StdDeviation   = {std:12.3f}]",
              f"#[Max     = {top:12.3f}, Total count    = {total:12d}]",
              f"#[Buckets = {len(buckets):12d}, SubBuckets     = {32:12d}]", ""]
    return "\n".join(lines)


def _warn(what: str, exc: Exception) -> None:
    sys.stderr.write(f"dpdk-harness: {what} not written: {type(exc).__name__}: {exc}\n")
