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
        rows.append([f["test"].split("::", 1)[-1], f["name"], _fmt(f["value"]), f.get("unit", ""),
                     f["target_text"] or "-", f["verdict"]])
    return rows


def summary_markdown(results: dict) -> str:
    from tabulate import tabulate

    rows = figure_rows(results["figures"])
    md = [f"# dpdk-harness summary: {results['profile']['name']}", "",
          ", ".join(f"{v} {k}" for k, v in results["outcomes"].items()) or "no tests ran", ""]
    if results.get("interrupted"):
        md += ["**The run was interrupted: these results are partial.**", ""]
    tests = results.get("tests", [])
    if tests:
        suites: dict[str, dict[str, int]] = {}
        for t in tests:
            c = suites.setdefault(t["suite"], {})
            c[t["outcome"]] = c.get(t["outcome"], 0) + 1
        md += ["## Verdicts per suite", "",
               tabulate([[s, ", ".join(f"{n} {o}" for o, n in sorted(c.items()))] for s, c in suites.items()],
                        headers=["suite", "checks"], tablefmt="github"), ""]
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
    md += ["The full report, with the host inventory and charts: `report.html`.", ""]
    return "\n".join(md)


def write_html(results: dict, path: pathlib.Path) -> pathlib.Path:
    from harness.report import html

    path.write_text(html.render(results), encoding="utf-8")
    return path


def write_reports(out: pathlib.Path, sess, outcomes: dict[str, int], exit_status: int, inventory: dict, *,
                  stats: dict | None = None, junit_path: str | os.PathLike | None = None,
                  baseline=None) -> dict:
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
    res = _results.build(sess, outcomes, exit_status, inventory, tests=tests, junit_path=jpath, sys_root=sys_root)
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
    ]
    if jpath.is_file() and _results.fresh(jpath):
        from harness.report import junit

        interrupted = [t["nodeid"] for t in res["tests"] if t["outcome"] == "interrupted"]
        steps.append(("junit.xml", lambda: junit.complete(jpath, _results.junit_suite_properties(res),
                                                          _results.figure_verdicts(res), interrupted)))
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            _warn(name, exc)
    return res


def _warn(what: str, exc: Exception) -> None:
    sys.stderr.write(f"dpdk-harness: {what} not written: {type(exc).__name__}: {exc}\n")
