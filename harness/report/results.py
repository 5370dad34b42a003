"""The results of a run as plain data: what results.json holds and every other report is made from.

``build()`` gathers it from the session (figures, skips), the per-test verdicts (pytest's reports
when the plugin passes them, else the junit.xml pytest has just written) and the host (inventory,
DPDK version, the ports as they came up). Nothing here may fail a run: what cannot be read is
left out or marked unknown.
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
from harness.report.junit import INTERRUPTED_MESSAGE

FORMAT = "dpdk-harness-results"
FORMAT_VERSION = 2

#: order of precedence when a test has several phase reports (setup, call, teardown)
_OUTCOME_RANK = {"error": 5, "failed": 4, "xpassed": 3, "skipped": 2, "xfailed": 2, "passed": 1, "interrupted": 0,
                 "unknown": 0}
_PCI_RE = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def verdict(passed: bool | None) -> str:
    return {None: "", True: "PASS", False: "FAIL"}[passed]


def fmt(v) -> str:
    """A figure for people: thousands separated from 1000 up, four significant digits below."""
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def target_text(target, op: str) -> str:
    return f"{op} {fmt(target)}" if target is not None else ""


def suite_of(nodeid: str) -> str:
    """``suites/rss/test_x.py::t`` -> ``rss``; elsewhere the test file's directory, or its stem."""
    path = Path(nodeid.split("::", 1)[0])
    parts = path.parts
    if "suites" in parts[:-1]:
        return parts[parts.index("suites") + 1]
    return str(path.parent) if str(path.parent) not in ("", ".") else path.stem


def figure_record(f) -> dict:
    """A Figure (or its dict) with its verdict and target as text, as results.json lists it."""
    d = dict(f.__dict__) if hasattr(f, "__dict__") else dict(f)
    d.setdefault("extra", {})
    d["verdict"] = verdict(d.get("passed"))
    d["target_text"] = target_text(d.get("target"), d.get("op", ">="))
    return d


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


def build(sess, outcomes: dict[str, int], exit_status: int, inventory: dict[str, str], *,
          tests: list[dict] | None = None, junit_path: Path | None = None, sys_root: str = "/sys") -> dict:
    """results.json's content. ``tests`` (from :func:`tests_from_stats`) wins over ``junit_path``."""
    figures = [figure_record(f) for f in sess.figures]
    skips = [{"check": n, "reason": r} for n, r in sess.skips]
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
    reasons = {s["check"]: s["reason"] for s in skips}
    for t in tests:
        if exit_status == 2 and t["outcome"] == "unknown" and source == "pytest":
            # only a setup report: the interrupt came while the check ran
            t["outcome"], t["message"] = "interrupted", INTERRUPTED_MESSAGE
        t["suite"] = suite_of(t["nodeid"])
        t["figures"] = [f["name"] for f in figures if f["test"] == t["nodeid"]]
        if t["outcome"] == "skipped" and t["nodeid"] in reasons:
            t["message"] = reasons[t["nodeid"]]
        failed = [f["name"] for f in figures if f["test"] == t["nodeid"] and f["passed"] is False]
        if failed:
            t["failed_figures"] = failed
    inv = dict(inventory)
    inv.setdefault("dpdk_version", dpdk_version())
    profile = sess.profile
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "harness_version": __version__,
        "profile": {"name": profile.name, "path": profile.path,
                    "description": getattr(profile, "description", "")},
        "hostname": platform.node(),
        "finished": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "exit_status": exit_status,
        "interrupted": exit_status == 2,
        "probe_fault": getattr(sess, "probe_fault", None),
        "outcomes": outcomes,
        "inventory": inv,
        "ports": port_inventory(sess, sys_root),
        "tests_source": source,
        "tests": tests,
        "figures": figures,
        "skips": skips,
    }


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
    return data
