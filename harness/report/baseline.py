"""Baselines: a known-good run kept as a reference, and the comparison of a new run against it.

Targets in a profile are guesses until a host has been measured. A baseline turns the measurement
of a known-good host into the reference: a new run (another day, another host of the same class,
a new kernel or firmware) is compared figure by figure and a change beyond a tolerance in the
direction the figure's target says is worse is a **regression**:

* target ``>=`` (a rate, a p-value): lower is worse;
* target ``<=`` (loss, drops, latency, leaked mbufs): higher is worse;
* no target (a count, a per-queue spread): the change is reported, never a regression.

A figure is identified by its check (pytest nodeid), its name and, when a check records the same
name more than once, its occurrence. ``allowed = max(tolerance * |baseline|, abs_tolerance)``, so a
baseline of 0 (no drops) tolerates nothing unless ``abs_tolerance`` says otherwise.
"""
from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pytest

from harness import __version__
from harness.errors import UsageError
from harness.report import results as _results

FORMAT = "dpdk-harness-baseline"
FORMAT_VERSION = 1
DEFAULT_DIR = Path("baselines")
DEFAULT_TOLERANCE = 0.05
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

REGRESSION, IMPROVED, CHANGED, OK, NEW, MISSING = "REGRESSION", "improved", "changed", "ok", "new", "missing"
DIRECTION = {">=": "higher is better", "<=": "lower is better", None: "no target"}


# ------------------------------------------------------------------------------ saving and loading


def port_aliases(ports: Iterable[dict]) -> list[tuple[str, str]]:
    """(port name, stable alias) for the run's ports, longest names first.

    Figures named after a port (``net_ring_dhw123450_a.link_speed``, ``0000:03:00.0.rss_key_size``)
    carry a per-run vdev id or a host-specific PCI address; matched through the port's topology
    and role (``<ring_wire:a>``, ``<nic:nic0>``) they compare across runs and hosts.
    """
    out = []
    for p in ports:
        name = p.get("name")
        if name:
            role = p.get("role") or f"port{p.get('port', '')}"
            out.append((name, f"<{p.get('topology', '')}:{role}>"))
    return sorted(out, key=lambda a: -len(a[0]))


def canonical(name: str, aliases: list[tuple[str, str]]) -> str:
    for raw, alias in aliases:
        if raw in name:
            name = name.replace(raw, alias)
    return name


def _figure_key_map(figures: Iterable[dict], aliases: list[tuple[str, str]] = ()) -> dict[tuple[str, str, int], dict]:
    """figures by (check, canonical name, occurrence of that name within the check)."""
    out: dict[tuple[str, str, int], dict] = {}
    for f in figures:
        name = canonical(f["name"], aliases)
        n = 0
        while (f["test"], name, n) in out:
            n += 1
        out[(f["test"], name, n)] = f
    return out


def make(results: dict, name: str, source: str = "") -> dict:
    """The baseline document of a run: its figures, verdicts, host and ports, nothing per-run else."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "saved": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "source": source,
        "saved_by": f"dpdk-harness {__version__}",
        "harness_version": results.get("harness_version", ""),
        "profile": results.get("profile", {}),
        "hostname": results.get("hostname", ""),
        "finished": results.get("finished", ""),
        "exit_status": results.get("exit_status"),
        "outcomes": results.get("outcomes", {}),
        "inventory": results.get("inventory", {}),
        "ports": results.get("ports", []),
        "tests": [{"nodeid": t["nodeid"], "outcome": t.get("outcome", "unknown")} for t in results.get("tests", [])],
        "figures": [{k: f.get(k) for k in ("test", "name", "value", "unit", "target", "op", "passed")}
                    for f in results["figures"]],
    }


def default_path(name: str, directory: Path | str = DEFAULT_DIR) -> Path:
    return Path(directory) / f"{name}.json"


def save(results_path: str | Path, *, name: str | None = None, output: str | Path | None = None,
         force: bool = False) -> tuple[Path, dict, list[str]]:
    """Save the run ``results_path`` as a baseline; returns (path written, baseline, notes).

    Refused (UsageError) without ``force``: an interrupted or probe-faulted run, or an existing file.
    """
    results = _results.load(results_path)
    if name is None:
        name = Path(output).stem if output else None
    if not name:
        raise UsageError("no baseline name: give --name (e.g. --name hostA -> baselines/hostA.json) or --output PATH")
    if not _NAME_RE.match(name):
        raise UsageError(f"baseline name {name!r}: give --name with letters, digits, '.', '_' or '-' "
                         "(e.g. --name hostA)")
    path = Path(output) if output else default_path(name)
    notes = []
    if not force:
        if results.get("probe_fault"):
            raise UsageError(f"{results_path}: the run used --probe-fault {results['probe_fault']}; a deliberately "
                             "broken probe is no baseline (--force to save it anyway)")
        if results.get("exit_status") == 2 or results.get("interrupted"):
            raise UsageError(f"{results_path}: the run was interrupted, its figures are partial; save a complete "
                             "run (--force to save it anyway)")
        if path.exists():
            raise UsageError(f"{path} exists; give another --name or --output, or --force to replace it")
    if not results["figures"]:
        raise UsageError(f"{results_path}: the run recorded no figures; run the suites (pytest suites/) first")
    failed = [f for f in results["figures"] if f.get("passed") is False]
    if failed:
        notes.append(f"{len(failed)} figure(s) miss their profile target; the baseline records what this host "
                     "measured, and later runs are judged against that")
    base = make(results, name, str(results_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(base, indent=2, default=str) + "\n")
    return path, base, notes


def load(path: str | Path) -> dict:
    """A baseline file, or a results.json used as one; UsageError naming the file otherwise."""
    data = _results.load(path)  # same checks: JSON, figures, inventory
    if data.get("format") == FORMAT and data.get("format_version", 0) > FORMAT_VERSION:
        raise UsageError(f"{path}: baseline format {data['format_version']} is newer than this harness reads "
                         f"({FORMAT_VERSION}); upgrade dpdk-harness")
    data.setdefault("name", Path(path).stem)
    return data


# ------------------------------------------------------------------------------ comparing


@dataclass
class Row:
    test: str
    name: str
    unit: str
    op: str | None           # the direction: ">=" higher is better, "<=" lower is better, None none
    baseline: float | None
    current: float | None
    change: float | None     # relative change, (current - baseline) / |baseline|
    status: str
    allowed: float | None = None  # the absolute change the tolerance allows

    @property
    def check(self) -> str:
        return self.test.split("::", 1)[-1]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _tolerance_for(name: str, tolerance: float, figure_tolerances: dict[str, float] | None) -> float:
    for pattern, tol in (figure_tolerances or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return tol
    return tolerance


def judge(base: dict | None, cur: dict | None, tolerance: float, abs_tolerance: float = 0.0) -> Row:
    """One figure: its baseline (or None: new) against the current value (or None: missing)."""
    ref = cur or base
    op = ref.get("op") if ref.get("target") is not None else None
    if op is None and base is not None and base.get("target") is not None:
        op = base.get("op")
    unit = ref.get("unit", "")
    if cur is None or base is None:
        return Row(ref["test"], ref["name"], unit, op, base and base.get("value"), cur and cur.get("value"),
                   None, MISSING if cur is None else NEW)
    b, c = base.get("value"), cur.get("value")
    if not (_finite(b) and _finite(c)):
        same = (b == c) or (not _finite(b) and not _finite(c))
        status = OK if same else (REGRESSION if op and _finite(b) else CHANGED)
        return Row(cur["test"], cur["name"], unit, op, b, c, None, status)
    change = (c - b) / abs(b) if b else (0.0 if c == b else math.copysign(math.inf, c - b))
    allowed = max(tolerance * abs(b), abs_tolerance)
    delta = c - b
    if abs(delta) <= allowed:
        status = OK
    elif op is None:
        status = CHANGED
    elif (op == ">=") == (delta < 0):
        status = REGRESSION
    else:
        status = IMPROVED
    return Row(cur["test"], cur["name"], unit, op, b, c, change, status, allowed)


@dataclass
class Comparison:
    baseline_name: str
    tolerance: float
    abs_tolerance: float
    rows: list[Row]
    host_differences: list[tuple[str, str, str]] = field(default_factory=list)   # (what, baseline, current)
    outcome_changes: list[tuple[str, str, str]] = field(default_factory=list)    # (nodeid, baseline, current)
    strict: bool = False
    baseline_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.status == REGRESSION or (self.strict and r.status == MISSING)]

    @property
    def ok(self) -> bool:
        return not self.regressions

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        return cls(d["baseline"], d["tolerance"], d.get("abs_tolerance", 0.0), [Row(**r) for r in d["rows"]],
                   [tuple(x) for x in d.get("host_differences", [])], [tuple(x) for x in d.get("outcome_changes", [])],
                   d.get("strict", False), d.get("baseline_meta", {}))

    def to_dict(self) -> dict:
        return {"baseline": self.baseline_name, "baseline_meta": self.baseline_meta, "tolerance": self.tolerance,
                "abs_tolerance": self.abs_tolerance, "strict": self.strict, "ok": self.ok,
                "counts": self.counts(), "regressions": len(self.regressions),
                "rows": [asdict(r) for r in self.rows],
                "host_differences": [list(d) for d in self.host_differences],
                "outcome_changes": [list(d) for d in self.outcome_changes]}


def _port_summary(ports: list[dict]) -> dict[str, str]:
    out = {}
    for i, p in enumerate(ports):
        for key in ("driver", "pci", "firmware", "speed_mbps"):
            if key in p:
                out[f"port{i}.{key}"] = str(p[key])
    return out


def host_differences(base: dict, cur: dict) -> list[tuple[str, str, str]]:
    a = {**{k: str(v) for k, v in base.get("inventory", {}).items()}, **_port_summary(base.get("ports", []))}
    b = {**{k: str(v) for k, v in cur.get("inventory", {}).items()}, **_port_summary(cur.get("ports", []))}
    a["profile"] = str(base.get("profile", {}).get("name", ""))
    b["profile"] = str(cur.get("profile", {}).get("name", ""))
    return [(k, a.get(k, "-"), b.get(k, "-")) for k in sorted(set(a) | set(b)) if a.get(k, "-") != b.get(k, "-")]


def compare(current: dict, base: dict, tolerance: float = DEFAULT_TOLERANCE, *, abs_tolerance: float = 0.0,
            figure_tolerances: dict[str, float] | None = None, strict: bool = False) -> Comparison:
    """Every figure of ``current`` (results) against ``base`` (a baseline or results)."""
    if tolerance < 0 or abs_tolerance < 0:
        raise UsageError("--tolerance and --abs-tolerance must be >= 0 (a fraction, e.g. 0.05 for 5%)")
    b_map = _figure_key_map(base["figures"], port_aliases(base.get("ports", [])))
    c_map = _figure_key_map(current["figures"], port_aliases(current.get("ports", [])))
    rows = []
    for key, cur in c_map.items():
        tol = _tolerance_for(cur["name"], tolerance, figure_tolerances)
        rows.append(judge(b_map.get(key), cur, tol, abs_tolerance))
    for key, old in b_map.items():
        if key not in c_map:
            rows.append(judge(old, None, tolerance, abs_tolerance))
    b_tests = {t["nodeid"]: t.get("outcome") for t in base.get("tests", [])}
    changes = [(t["nodeid"], b_tests[t["nodeid"]], t.get("outcome"))
               for t in current.get("tests", [])
               if t["nodeid"] in b_tests and b_tests[t["nodeid"]] != t.get("outcome")
               and "unknown" not in (b_tests[t["nodeid"]], t.get("outcome"))]
    meta = {k: base.get(k) for k in ("saved", "hostname", "source", "finished") if base.get(k)}
    meta["cpu_model"] = base.get("inventory", {}).get("cpu_model", "")
    meta["dpdk_version"] = base.get("inventory", {}).get("dpdk_version", "")
    return Comparison(base.get("name", ""), tolerance, abs_tolerance, rows, host_differences(base, current),
                      changes, strict, meta)


def pct(change: float | None) -> str:
    if change is None:
        return "-"
    if math.isinf(change):
        return "+inf" if change > 0 else "-inf"
    return f"{change * 100:+.1f}%"


TABLE_HEADERS = ["check", "figure", "baseline", "current", "unit", "change", "direction", "status"]


def table_rows(comp: Comparison, *, changes_only: bool = False) -> list[list[str]]:
    out = []
    for r in comp.rows:
        if changes_only and r.status == OK:
            continue
        out.append([r.check, r.name, _results.fmt(r.baseline), _results.fmt(r.current), r.unit, pct(r.change),
                    DIRECTION[r.op], r.status])
    return out


def format_comparison(comp: Comparison, *, changes_only: bool = False, tablefmt: str = "simple") -> str:
    """The comparison as the CLI prints it: a heading, the table, the summary, host differences."""
    from tabulate import tabulate

    m = comp.baseline_meta
    lines = [f"baseline {comp.baseline_name}"
             + (f" (saved {m['saved']}" if m.get("saved") else " (")
             + (f", host {m['hostname']}" if m.get("hostname") else "")
             + (f", {m['cpu_model']}" if m.get("cpu_model") else "") + ")"
             + f"; tolerance {comp.tolerance:.1%}"
             + (f", at least {comp.abs_tolerance:g}" if comp.abs_tolerance else ""), ""]
    rows = table_rows(comp, changes_only=changes_only)
    if rows:
        lines += [tabulate(rows, headers=TABLE_HEADERS, tablefmt=tablefmt, disable_numparse=True), ""]
    counts = comp.counts()
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no figures to compare")
    if comp.host_differences:
        lines += ["", "host differences (baseline -> current):"]
        lines += [f"  {k}: {a} -> {b}" for k, a, b in comp.host_differences]
    if comp.outcome_changes:
        lines += ["", "verdict changes (baseline -> current):"]
        lines += [f"  {n}: {a} -> {b}" for n, a, b in comp.outcome_changes]
    regs = comp.regressions
    lines += ["", f"{len(regs)} regression(s) beyond the tolerance" if regs else "no regression"]
    return "\n".join(lines)


def terminal_text(results: dict) -> str | None:
    """The comparison a run made (``results["baseline"]``) for the terminal summary: changes only."""
    comp = results.get("baseline")
    if not comp:
        return None
    return format_comparison(Comparison.from_dict(comp), changes_only=True)


# ------------------------------------------------------------------------------ within a pytest run


@dataclass
class BaselineCheck:
    """A baseline loaded for a run (``--baseline PATH``), with how regressions are treated."""
    baseline: dict
    path: str
    tolerance: float = DEFAULT_TOLERANCE
    abs_tolerance: float = 0.0
    action: str = "fail"          # "fail": a regressed figure fails its check; "report": only reported

    @property
    def name(self) -> str:
        return self.baseline.get("name", Path(self.path).stem)


#: where the plugin keeps the loaded baseline (``config.stash[BASELINE_KEY]``)
BASELINE_KEY = pytest.StashKey[BaselineCheck]()


def load_check(path: str, tolerance: float = DEFAULT_TOLERANCE, action: str = "fail",
               abs_tolerance: float = 0.0) -> BaselineCheck:
    """For ``pytest --baseline PATH``: UsageError (one line, names the option) on a bad file or value."""
    if tolerance < 0:
        raise UsageError(f"--baseline-tolerance {tolerance}: must be >= 0, a fraction such as 0.05 for 5%")
    if action not in ("fail", "report"):
        raise UsageError(f"--baseline-action {action!r}: choose fail or report")
    try:
        base = load(path)
    except UsageError as exc:
        raise UsageError(f"--baseline: {exc}") from None
    return BaselineCheck(base, str(path), tolerance, abs_tolerance, action)


def session_ports(sess) -> list[dict]:
    """name, topology and role of the ports a session has up (for :func:`port_aliases`); [] if none."""
    out = []
    if getattr(sess, "started", False) and not getattr(sess, "_closed", False):
        for topo in getattr(sess, "topologies", {}).values():
            for port in topo.ports:
                try:
                    out.append({"name": port.name, "topology": topo.kind, "role": port.role, "port": port.id})
                except Exception:
                    pass
    return out


def rows_of_check(check: BaselineCheck, nodeid: str, figures, ports: list[dict] = ()) -> list[Row]:
    """The figures one check recorded, judged against the baseline's figures of the same check."""
    cur = [_results.figure_record(f) for f in figures
           if (f.get("test") if isinstance(f, dict) else getattr(f, "test", None)) == nodeid]
    base = [f for f in check.baseline["figures"] if f["test"] == nodeid]
    b_map = _figure_key_map(base, port_aliases(check.baseline.get("ports", [])))
    c_map = _figure_key_map(cur, port_aliases(ports))
    return [judge(b_map[k], c, check.tolerance, check.abs_tolerance) for k, c in c_map.items() if k in b_map]


def regression_message(check: BaselineCheck, rows: list[Row]) -> str:
    parts = [f"{r.name} = {_results.fmt(r.current)}{(' ' + r.unit) if r.unit else ''}, baseline "
             f"{_results.fmt(r.baseline)} ({pct(r.change)}, {DIRECTION[r.op]})" for r in rows]
    return (f"baseline regression against {check.name} (tolerance {check.tolerance:.1%}): " + "; ".join(parts)
            + f". Expected no figure worse than the baseline {check.path} by more than the tolerance; find what "
            "changed on the host (see the report's host differences), or if the change is intended save a new "
            "baseline (python -m harness baseline save reports/results.json --name "
            f"{check.name} --force)")


def judge_test(item, report, check: BaselineCheck, sess) -> list[Row]:
    """For ``pytest_runtest_makereport`` (call phase): judge this check's figures against the baseline.

    Adds ``<figure>.baseline`` and ``<figure>.baseline_change`` testcase properties; with action
    "fail" a passing check whose figure regressed becomes a failure naming the figure, the baseline
    value and the change; with "report" the regression is added as a report section. Returns the rows.
    """
    if report.when != "call":
        return []
    figures = [f for f in sess.figures if f.test == item.nodeid]
    if not figures:
        return []
    rows = rows_of_check(check, item.nodeid, figures, session_ports(sess))
    for r in rows:
        shown = f"{r.baseline:.6g}" if _finite(r.baseline) else str(r.baseline)
        item.user_properties.append((f"{r.name}.baseline", shown))
        item.user_properties.append((f"{r.name}.baseline_change", pct(r.change)))
    regressed = [r for r in rows if r.status == REGRESSION]
    if regressed:
        msg = regression_message(check, regressed)
        if check.action == "fail" and report.passed:
            report.outcome = "failed"
            report.longrepr = msg
        else:
            report.sections.append(("dpdk-harness baseline", msg))
    return rows
