"""Run a suite in a child pytest on a mutated profile (or with a probe fault) and read each check's verdict.

A check that cannot fail is a defect: the mutation tests use this to show every check FAILS, with the
message a user acts on, on a deliberately broken deployment, and passes on the sound one.
"""
from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parents[2]
VDEV = REPO / "profiles" / "vdev.toml"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def dump_profile(data: dict) -> str:
    """The subset of TOML profiles use: top-level scalars, [section] tables with scalars first,
    then [section.sub] tables, then [[section.key]] arrays of tables."""
    def scalars(table):
        return [f"{k} = {_toml_value(v)}" for k, v in table.items()
                if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))]

    out = scalars(data)
    for section, table in data.items():
        if not isinstance(table, dict):
            continue
        out += ["", f"[{section}]"] + scalars(table)
        for k, v in table.items():
            if isinstance(v, dict):
                out += ["", f"[{section}.{k}]"] + scalars(v)
        for k, v in table.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    out += ["", f"[[{section}.{k}]]"] + scalars(item)
    return "\n".join(out) + "\n"


def mutated_profile(tmp_path: pathlib.Path, name: str, *, base: pathlib.Path = VDEV, **changes) -> pathlib.Path:
    """``base`` (profiles/vdev.toml) with ``section__key=value`` changes, written to tmp_path/<name>.toml."""
    data = copy.deepcopy(tomllib.loads(base.read_text()))
    data["name"] = name
    for dotted, value in changes.items():
        section, key = dotted.split("__", 1)
        data.setdefault(section, {})[key] = value
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_profile(data))
    return path


@dataclass
class SuiteRun:
    returncode: int
    output: str
    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)  # test name -> (outcome, message)
    properties: dict[str, str] = field(default_factory=dict)  # JUnit testsuite properties

    def outcome(self, test: str) -> str:
        return self.verdicts[test][0]

    def message(self, test: str) -> str:
        return self.verdicts[test][1]

    def tester_overloaded(self, test: str) -> bool:
        """The check ended in an ERROR "tester overloaded": the host, not the deployment, could not keep
        up (a loaded machine); never a device FAIL."""
        outcome, message = self.verdicts[test]
        return outcome == "error" and "tester overloaded" in message

    def judged_failures(self) -> dict[str, tuple[str, str]]:
        """Checks that failed or errored for any reason but an overloaded tester."""
        return {t: v for t, v in self.verdicts.items() if v[0] in ("failed", "error") and not self.tester_overloaded(t)}


def run_suite(tmp_path: pathlib.Path, suite: str, *args: str, profile: pathlib.Path | None = None) -> SuiteRun:
    report = tmp_path / f"reports-{len(list(tmp_path.glob('reports-*')))}"
    cmd = [sys.executable, "-m", "pytest", str(REPO / suite), "-p", "no:cacheprovider", "-q",
           "--report-dir", str(report), "--dpdk-profile", str(profile or VDEV), *args]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    run = SuiteRun(res.returncode, res.stdout + res.stderr)
    junit = report / "junit.xml"
    if junit.exists():
        root = ET.parse(junit).getroot()
        for prop in root.iter("property"):
            run.properties.setdefault(prop.get("name"), prop.get("value"))
        for case in root.iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                    message = (el.get("message") or "") + "\n" + (el.text or "")
                    break
            run.verdicts[case.get("name")] = (outcome, message)
    return run
