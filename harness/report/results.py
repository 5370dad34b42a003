"""The results of a run as plain data: what results.json holds and every other report is made from.

``build()`` gathers it from the session (figures, skips), the per-test verdicts (pytest's reports
when the plugin passes them, else the junit.xml pytest has just written) and the host (inventory,
DPDK version, the ports as they came up). Nothing here may fail a run: what cannot be read is
left out or marked unknown. One figure's record and its text for people are :mod:`harness.report.figures`.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import re
from pathlib import Path
from typing import Any, Iterable

from harness import __version__
from harness.report import junit

# one figure's record and text are figures.py's; re-exported (``X as X``) for the callers that import them from here
from harness.report.figures import LATENCY_ORDER as LATENCY_ORDER
from harness.report.figures import figure_record as figure_record
from harness.report.figures import fmt as fmt
from harness.report.figures import measured_text as measured_text
from harness.report.figures import number as number
from harness.report.figures import slowest_link_gbps
from harness.report.figures import structure as structure
from harness.report.figures import wire as wire
from harness.report.figures import with_wire as with_wire
from harness.report.junit import INTERRUPTED_MESSAGE

FORMAT = "dpdk-harness-results"
FORMAT_VERSION = 3  # 3: structured figure fields, numbers as numbers, suites, run/harness facts, histograms
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "interrupted")

#: order of precedence when a test has several phase reports (setup, call, teardown)
_OUTCOME_RANK = {"error": 5, "failed": 4, "xpassed": 3, "skipped": 2, "xfailed": 2, "passed": 1, "interrupted": 0,
                 "unknown": 0}
_PCI_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def suite_of(nodeid: str) -> str:
    """``suites/rss/test_x.py::t`` -> ``rss``; elsewhere the test file's directory, or its stem."""
    path = Path(nodeid.split("::", 1)[0])
    parts = path.parts
    if "suites" in parts[:-1]:
        return parts[parts.index("suites") + 1]
    return str(path.parent) if str(path.parent) not in ("", ".") else path.stem



# ------------------------------------------------------------------------------ per-test verdicts


def _message(rep) -> str:
    if getattr(rep, "wasxfail", None) is not None and rep.skipped:
        return str(rep.wasxfail).removeprefix("reason: ")
    longrepr = rep.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else ""


def _outcome(rep) -> str:
    if getattr(rep, "wasxfail", None) is not None:
        return "xfailed" if rep.skipped else "xpassed" if rep.passed else "failed"
    if rep.failed:
        if getattr(rep, "tester_overloaded", False):
            return "error"
        return "error" if getattr(rep, "when", "call") != "call" else "failed"
    return "skipped" if rep.skipped else "passed"


def tests_from_stats(stats: dict[str, list]) -> list[dict]:
    """Per-test records from ``terminalreporter.stats`` (pytest's TestReports by category)."""
    tests: dict[str, dict] = {}
    for key, reports in stats.items():
        if key in ("warnings", "deselected"):
            continue
        for rep in reports:
            nodeid = getattr(rep, "nodeid", None)
            if nodeid is None or not hasattr(rep, "outcome"):
                continue
            rec = tests.setdefault(nodeid, {"nodeid": nodeid, "outcome": "unknown", "duration_s": 0.0, "message": ""})
            rec["duration_s"] += float(getattr(rep, "duration", 0.0) or 0.0)
            out = _outcome(rep)
            if out == "passed" and getattr(rep, "when", "call") != "call":
                out = "unknown"  # a setup/teardown that passed says nothing of the test's verdict
            if _OUTCOME_RANK[out] > _OUTCOME_RANK[rec["outcome"]]:
                rec["outcome"], rec["message"] = out, _message(rep)
    for rec in tests.values():
        rec["duration_s"] = round(rec["duration_s"], 3)
    return list(tests.values())


def fresh(path: Path) -> bool:
    """Written by this process (not left by an earlier run)."""
    try:
        import psutil

        return path.stat().st_mtime >= psutil.Process().create_time() - 1
    except (OSError, ImportError):
        return False


def tests_from_junit(path: Path | None, known: Iterable[str]) -> list[dict] | None:
    if path is None or not path.is_file() or not fresh(path):
        return None
    try:
        return junit.testcases(path, known)
    except Exception:  # a junit.xml we cannot read: the other reports still get written
        return None


# ------------------------------------------------------------------------------ the host


def dpdk_version() -> str:
    try:
        from harness import probe

        return probe.dpdk_version()
    except Exception as exc:
        return f"unknown ({exc})"


def _pci_details(addr: str, sys_root: str) -> dict[str, Any]:
    try:
        from harness.system import pci

        dev = pci.device_info(addr, sys_root=sys_root)
    except Exception:
        return {}
    return {"vendor_device": f"{dev.vendor}:{dev.device}", "bound_driver": dev.driver or "",
            "pci_numa_node": dev.numa_node, "iommu_group": dev.iommu_group or ""}


def port_inventory(sess, sys_root: str = "/sys") -> list[dict[str, Any]]:
    """Every port the run brought up: what DPDK reports (driver, socket, MAC, queues, link), and for
    PCI ports the address and sysfs facts. Fields DPDK or the device do not give are left out;
    firmware is reported when the probe can read it (``Port.fw_version``)."""
    if hasattr(sess, "port_records"):  # an --audit run: the audited application's ports
        return sess.port_records()
    ports: list[dict[str, Any]] = []
    seen: set[int] = set()
    closed = getattr(sess, "_closed", False)
    started = getattr(sess, "started", False) and not closed
    topologies = list(getattr(sess, "topologies", {}).values()) if started else []
    for topo in topologies:
        for port in topo.ports:
            if port.id in seen:
                continue
            seen.add(port.id)
            rec: dict[str, Any] = {"port": port.id, "topology": topo.kind, "role": port.role}
            try:
                info = port.info()
                rec.update(name=info["name"], driver=info["driver"], socket=info["socket_id"], mac=info["mac"],
                           rx_queues=info["nb_rx_queues"], tx_queues=info["nb_tx_queues"],
                           max_rx_queues=info["max_rx_queues"], max_tx_queues=info["max_tx_queues"],
                           reta_size=info["reta_size"])
            except Exception as exc:
                rec["error"] = str(exc)
            try:
                link = port.link()
                rec.update(link="up" if link["up"] else "down", speed_mbps=link["speed_mbps"],
                           duplex="full" if link["full_duplex"] else "half", autoneg=bool(link["autoneg"]))
            except Exception:
                pass
            fw = getattr(port, "fw_version", None)
            if fw is not None:
                try:
                    rec["firmware"] = fw() if callable(fw) else str(fw)
                except Exception:
                    pass
            name = rec.get("name", "")
            if _PCI_RE.match(name):
                rec["pci"] = name
                rec.update(_pci_details(name, sys_root))
                original = getattr(sess, "bound", {}).get(name)
                if original:
                    rec["kernel_driver"] = original
            ports.append(rec)
    if not ports:  # nothing came up: say what the profile asked for
        profile = sess.profile
        for i, addr in enumerate(profile.ports.pci):
            ports.append({"port": i, "pci": addr, "topology": "nic", **_pci_details(addr, sys_root)})
        if not profile.ports.pci:
            ports.append({"topology": profile.ports.topology, "note": "not brought up in this run"})
    return ports


# ------------------------------------------------------------------------------ the results


def build(sess, outcomes: dict[str, int] | None, exit_status: int, inventory: dict[str, str], *,
          tests: list[dict] | None = None, junit_path: Path | None = None, sys_root: str = "/sys",
          in_scope=None, invocation: dict | None = None) -> dict:
    """results.json's content. ``tests`` (from :func:`tests_from_stats`) wins over ``junit_path``.

    ``in_scope(nodeid)`` keeps the qualification to the suites' checks (the plugin passes it when the
    run collects suites); ``outcomes`` None: counted from the tests kept. ``invocation`` (``dir``,
    ``args``, ``argv``) says how the run was started, for the re-run line.
    """
    keep = in_scope or (lambda nodeid: True)
    figures = [figure_record(f) for f in sess.figures if keep(f.test if hasattr(f, "test") else f["test"])]
    skips = [{"check": n, "reason": r} for n, r in sess.skips if keep(n)]
    source = "pytest"
    if tests is None:
        tests = tests_from_junit(junit_path, [f["test"] for f in figures] + [s["check"] for s in skips])
        source = "junit.xml"
    if tests is None:  # neither: what the figures and skips tell
        source = "figures"
        tests = []
        for f in figures:
            if not any(t["nodeid"] == f["test"] for t in tests):
                tests.append({"nodeid": f["test"], "outcome": "unknown", "duration_s": None, "message": ""})
        for s in skips:
            tests.append({"nodeid": s["check"], "outcome": "skipped", "duration_s": None, "message": s["reason"]})
    tests = [t for t in tests if keep(t["nodeid"])]
    reasons = {s["check"]: s["reason"] for s in skips}
    for t in tests:
        if exit_status == 2 and t["outcome"] == "unknown" and source == "pytest":
            # only a setup report: the interrupt came while the check ran
            t["outcome"], t["message"] = "interrupted", INTERRUPTED_MESSAGE
        t["suite"] = suite_of(t["nodeid"])
        t["figures"] = [f["name"] for f in figures if f["test"] == t["nodeid"]]
        if t["outcome"] == "skipped" and t["nodeid"] in reasons:
            t["message"] = reasons[t["nodeid"]]
        t["failed_figures"] = [f["name"] for f in figures if f["test"] == t["nodeid"] and f["passed"] is False]
    if outcomes is None:
        outcomes = {o: sum(1 for t in tests if t["outcome"] == o) for o in OUTCOMES}
    else:
        outcomes = {**{o: 0 for o in OUTCOMES}, **outcomes}
    inv = dict(inventory)
    if hasattr(sess, "report_inventory"):  # an --audit run names the audited application
        inv.update(sess.report_inventory())
    inv.setdefault("dpdk_version", dpdk_version())
    profile = sess.profile
    ports = port_inventory(sess, sys_root)
    link = link_gbps(profile, ports)
    for f in figures:
        f.update(wire(f, link))
    device_class = ("emulated" if "emulated_nic" in inv else "hardware") if profile.ports.nic_mode else "software"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "harness_version": __version__,
        "harness": harness_facts(),
        "profile": {"name": profile.name, "path": profile.path,
                    "description": getattr(profile, "description", ""), "loaded": plain(profile)},
        "run": run_facts(invocation, profile),
        "device_class": device_class,
        "hostname": platform.node(),
        "finished": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "exit_status": exit_status,
        "interrupted": exit_status == 2,
        "probe_fault": getattr(sess, "probe_fault", None),
        "outcomes": outcomes,
        "inventory": inv,
        "ports": ports,
        "link_gbps": link,
        "tests_source": source,
        "suites": suite_verdicts(tests),
        "tests": tests,
        "figures": figures,
        "histograms": [h for h in getattr(sess, "histograms", []) if keep(h["test"])],
        "skips": skips,
        "soak": getattr(sess, "soak", None),  # --dpdk-soak: samples and slope verdicts (report: Soak section)
    }


def suite_verdicts(tests: list[dict]) -> list[dict]:
    """One verdict per suite: passed, failed, "passed with N skipped", or not verified (all skipped)."""
    suites: dict[str, dict[str, int]] = {}
    for t in tests:
        c = suites.setdefault(t["suite"], {o: 0 for o in OUTCOMES})
        if t["outcome"] in c:
            c[t["outcome"]] += 1
    out = []
    for name, c in suites.items():
        if c["failed"] or c["error"] or c["xpassed"]:
            v = "failed"
        elif c["interrupted"]:
            v = "interrupted"
        elif not c["passed"]:
            v = f"not verified ({c['skipped']} skipped)" if c["skipped"] else "not run"
        elif c["skipped"]:
            v = f"passed with {c['skipped']} skipped"
        else:
            v = "passed"
        out.append({"suite": name, "verdict": v, **c})
    return out


def link_gbps(profile, ports: list[dict]) -> float | None:
    """The link speed rates are judged against: the profile's targets.link_gbps, else the slowest
    speed the ports under test report (a vdev PMD reports a nominal one)."""
    given = getattr(getattr(profile, "targets", None), "link_gbps", None)
    if given:
        return float(given)
    kind = "nic" if profile.ports.nic_mode else profile.ports.topology
    return slowest_link_gbps([p for p in ports if p.get("topology") == kind])



def plain(obj):
    """A profile (dataclasses, FrozenMaps, tuples, frozensets) as JSON-ready data, as it was loaded."""
    import dataclasses
    from collections.abc import Mapping

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (frozenset, set)):
        return sorted(plain(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def harness_facts() -> dict[str, Any]:
    """This harness: version, and the git commit of the checkout it runs from (None when installed
    from a wheel); ``dirty`` when the checkout has local changes."""
    import subprocess

    here = Path(__file__).resolve().parents[2]
    facts: dict[str, Any] = {"version": __version__, "commit": None, "dirty": None, "source": str(here)}
    if not (here / ".git").exists():
        return facts
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return facts
    if commit.returncode == 0:
        facts["commit"] = commit.stdout.strip()
        facts["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    return facts


def run_facts(invocation: dict | None, profile) -> dict[str, Any]:
    """The command line and a line that runs the same checks again, with the same profile."""
    import shlex
    import sys

    inv = invocation or {}
    argv = list(inv.get("argv") or sys.argv)
    cwd = inv.get("dir") or os.getcwd()
    args = [str(a) for a in (inv.get("args") if inv.get("args") is not None else argv[1:])]
    if not any(a == "--dpdk-profile" or a.startswith("--dpdk-profile=") for a in args) and profile.path != "<string>":
        args.append(f"--dpdk-profile={profile.path}")  # the default profile, named: a later default may differ
    rerun = f"cd {shlex.quote(str(cwd))} && {shlex.quote(sys.executable)} -m pytest {shlex.join(args)}"
    return {"command": shlex.join(argv), "cwd": str(cwd), "args": args, "rerun": rerun}


def figure_verdicts(results: dict) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for f in results["figures"]:
        if f.get("verdict"):
            out.setdefault(f["test"], []).append((f["name"], f["verdict"]))
    return out


def junit_suite_properties(results: dict) -> dict[str, object]:
    """Run facts only known at the end, as testsuite properties: DPDK version, ports, run state."""
    props: dict[str, object] = {"dpdk_version": results["inventory"].get("dpdk_version", "")}
    for i, port in enumerate(results.get("ports", [])):
        for key in ("name", "driver", "pci", "firmware", "speed_mbps", "link", "socket", "mac", "topology"):
            if key in port:
                props[f"port{i}.{key}"] = port[key]
    props["exit_status"] = results["exit_status"]
    return props


def is_results(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("figures"), list) and "inventory" in data


def load(path: str | os.PathLike) -> dict:
    """A results.json (any format version), or a UsageError naming the file and what is wrong."""
    import json

    from harness.errors import UsageError

    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read results ({exc.strerror}); give the results.json of a run") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc}); give the results.json of a run") from None
    if not is_results(data):
        raise UsageError(f"{path}: not a dpdk-harness results.json (no figures/inventory); give reports/results.json")
    data.setdefault("tests", [])
    data.setdefault("skips", [])
    data.setdefault("ports", [])
    data["figures"] = [figure_record(f) for f in data["figures"]]
    for t in data["tests"]:
        t.setdefault("suite", suite_of(t.get("nodeid", "")))
        t.setdefault("failed_figures", [])
    data.setdefault("suites", suite_verdicts(data["tests"]))
    return with_wire(data)
