"""``python -m harness report`` and ``python -m harness baseline save|compare``.

Exit status: 0 fine; 1 a regression against the baseline; 2 bad input (a file that is not a run's
results or a baseline, a bad option value), with one ``error: ...`` line on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import HarnessError

EXIT_REGRESSION = 1
EXIT_USAGE = 2


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction such as 0.05 for 5%") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0 (a fraction, e.g. 0.05 for 5%)")
    return v


def _figure_tolerance(text: str) -> tuple[str, float]:
    pattern, sep, value = text.partition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(f"{text!r}: give PATTERN=FRACTION, e.g. 'rx_pps_*=0.02'")
    return pattern, _fraction(value)


def _error(exc: HarnessError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


# ------------------------------------------------------------------------------ report


def report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS", help="a run's results.json (e.g. reports/results.json)")
    p.add_argument("-o", "--output", metavar="HTML", default=None,
                   help="where to write the HTML report (default: report.html next to RESULTS)")
    p.add_argument("--baseline", metavar="PATH", default=None,
                   help="add the comparison with this baseline (or another run's results.json)")
    p.add_argument("--tolerance", type=_fraction, default=0.05, metavar="FRACTION",
                   help="relative change a figure may show before it counts (default 0.05)")


def report(args: argparse.Namespace) -> int:
    from harness.report import baseline as bl
    from harness.report import results, write_html

    try:
        res = results.load(args.results)
        if args.baseline:
            res["baseline"] = bl.compare(res, bl.load(args.baseline), args.tolerance).to_dict()
    except HarnessError as exc:
        return _error(exc)
    out = Path(args.output) if args.output else Path(args.results).with_name("report.html")
    write_html(res, out)
    print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------------------ baseline


def baseline_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("save", help="keep a run's results as a baseline (under baselines/ by default)",
                       description="Keep a run's results as a baseline: baselines/NAME.json, or --output.")
    s.add_argument("results", metavar="RESULTS", help="the run's results.json (e.g. reports/results.json)")
    s.add_argument("--name", default=None, help="baseline name, e.g. the host: hostA -> baselines/hostA.json")
    s.add_argument("-o", "--output", metavar="PATH", default=None, help="write the baseline here instead")
    s.add_argument("--force", action="store_true",
                   help="replace an existing baseline; accept an interrupted or probe-faulted run")
    c = sub.add_parser("compare", help="compare a run with a baseline; exit 1 on a regression",
                       description="Compare a run's figures with a baseline. A figure with target '>=' regresses "
                                   "when it falls, one with '<=' when it rises, by more than the tolerance; a "
                                   "figure without target only reports its change. Exit 1 on a regression.")
    c.add_argument("results", metavar="RESULTS", help="the new run's results.json")
    c.add_argument("baseline", metavar="BASELINE", help="a baseline file (or another run's results.json)")
    c.add_argument("--tolerance", type=_fraction, default=0.05, metavar="FRACTION",
                   help="relative change allowed in the worse direction (default 0.05 = 5%%)")
    c.add_argument("--abs-tolerance", type=_fraction, default=0.0, metavar="VALUE",
                   help="absolute change always allowed, for figures whose baseline is 0 (default 0)")
    c.add_argument("--figure-tolerance", type=_figure_tolerance, action="append", default=[],
                   metavar="PATTERN=FRACTION", help="tolerance for figures matching a glob, e.g. 'rss_*_chi2_p=0.5' "
                                                    "(repeatable; first match wins)")
    c.add_argument("--strict", action="store_true", help="a baseline figure missing from the run is a regression")
    c.add_argument("--changes-only", action="store_true", help="leave unchanged figures out of the table")
    c.add_argument("--json", metavar="PATH", default=None, help="also write the comparison as JSON")
    c.add_argument("--tablefmt", default="simple", help="tabulate table format (default simple; e.g. github)")


def baseline(args: argparse.Namespace) -> int:
    from harness.report import baseline as bl
    from harness.report import results

    try:
        if args.action == "save":
            path, base, notes = bl.save(args.results, name=args.name, output=args.output, force=args.force)
            print(f"saved baseline {base['name']}: {path} ({len(base['figures'])} figures, host "
                  f"{base.get('hostname') or '?'}, {base['inventory'].get('cpu_model') or 'CPU ?'})")
            for note in notes:
                print(f"note: {note}")
            return 0
        current = results.load(args.results)
        comp = bl.compare(current, bl.load(args.baseline), args.tolerance, abs_tolerance=args.abs_tolerance,
                          figure_tolerances=dict(args.figure_tolerance), strict=args.strict)
    except HarnessError as exc:
        return _error(exc)
    print(bl.format_comparison(comp, changes_only=args.changes_only, tablefmt=args.tablefmt))
    if args.json:
        Path(args.json).write_text(json.dumps(comp.to_dict(), indent=2, default=str) + "\n")
    return 0 if comp.ok else EXIT_REGRESSION


COMMANDS = {
    "report": ("render report.html from a run's results.json (again), optionally with a baseline comparison",
               report_args, report),
    "baseline": ("save a run as a baseline, or compare a run with one (exit 1 on a regression)",
                 baseline_args, baseline),
}
