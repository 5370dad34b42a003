"""pytest's JUnit XML, read and completed: per-test verdicts from it, run facts added to it.

pytest writes ``junit.xml`` (``--junitxml``) in ``pytest_sessionfinish``, before the terminal
summary where the reports are written, so the file is complete by then. The figures are already
testcase properties and the host inventory testsuite properties; :func:`complete` adds what is only
known at the end of a run (the DPDK version, the ports as they came up, a verdict per figure) without
changing anything pytest wrote. :data:`XSD` is the schema the result is checked against in tests.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

#: the message of a check the run was stopped during (junit.xml, results.json)
INTERRUPTED_MESSAGE = "interrupted: the run was stopped during this check; it was not verified"

#: the JUnit schema (Jenkins / Ant structure, see the file's header)
XSD = Path(str(resources.files("harness.report") / "junit.xsd"))
INTERRUPTED_NAME = "(interrupted check)"


def mangle(nodeid: str) -> tuple[str, str]:
    """A pytest nodeid as junit (classname, name), the way pytest's junitxml plugin writes it."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def _guess_nodeid(classname: str, name: str, root: Path) -> str:
    """Back from junit to a nodeid when no figure or skip names the test: the longest prefix of
    the dotted classname that is a .py file under ``root`` is the module, the rest are classes."""
    parts = classname.split(".") if classname else []
    for i in range(len(parts), 0, -1):
        if (root / Path(*parts[:i])).with_suffix(".py").is_file():
            return "::".join(["/".join(parts[:i]) + ".py", *parts[i:], name])
    return "::".join(([("/".join(parts) + ".py")] if parts else []) + [name])


def _suites(root: ET.Element):
    """Every <testsuite>, the root itself included when it is one (nested suites too)."""
    return root.iter("testsuite")


def testcases(path: Path, known_nodeids=(), root_dir: Path | None = None) -> list[dict]:
    """Per-test records (nodeid, outcome, duration_s, message) from a junit.xml.

    ``known_nodeids`` (of figures and skips) are matched exactly; other tests get their nodeid
    rebuilt from classname and name.
    """
    tree = ET.parse(path)
    by_address = {mangle(n): n for n in known_nodeids}
    root_dir = root_dir or Path.cwd()
    named = {(c.get("classname", ""), c.get("name", "")) for c in tree.getroot().iter("testcase")}
    unmatched = [n for a, n in by_address.items() if a not in named]
    out = []
    for suite in _suites(tree.getroot()):
        for case in suite.findall("testcase"):
            cls, name = case.get("classname", ""), case.get("name", "")
            if name == "" and cls == "":
                # pytest's junit writes a nameless <testcase> for a check that was interrupted after its
                # setup: it is the check a figure or skip names that has no testcase of its own
                out.append({"nodeid": unmatched.pop() if unmatched else INTERRUPTED_NAME, "outcome": "interrupted",
                            "duration_s": _seconds(case), "message": INTERRUPTED_MESSAGE})
                continue
            nodeid = by_address.get((cls, name)) or _guess_nodeid(cls, name, root_dir)
            outcome, message = "passed", ""
            for tag in ("error", "failure", "skipped"):
                node = case.find(tag)
                if node is not None:
                    message = node.get("message", "")
                    if tag == "skipped":
                        outcome = "xfailed" if node.get("type") == "pytest.xfail" else "skipped"
                        if message == "xfail-marked test passes unexpectedly":
                            outcome = "failed"  # a strict xfail that passed
                    else:
                        outcome = "error" if tag == "error" else "failed"
                    break
            out.append({"nodeid": nodeid, "outcome": outcome, "duration_s": _seconds(case), "message": message})
    return out


def _seconds(case: ET.Element) -> float:
    try:
        return float(case.get("time", "0").replace(",", ""))
    except ValueError:
        return 0.0


def _props(parent: ET.Element) -> ET.Element:
    """``parent``'s <properties>, created as its first child when missing (where the schema wants it)."""
    props = parent.find("properties")
    if props is None:
        props = ET.Element("properties")
        parent.insert(0, props)
    return props


def _add(props: ET.Element, name: str, value) -> None:
    if not any(p.get("name") == name for p in props.findall("property")):
        props.append(ET.Element("property", name=name, value="" if value is None else str(value)))


def _name_interrupted(suite: ET.Element, case: ET.Element, nodeid: str) -> None:
    """Give pytest's nameless testcase of an interrupted check its name and an <error>, and count it."""
    cls, name = mangle(nodeid) if "::" in nodeid else ("", nodeid)
    case.set("classname", cls)
    case.set("name", name)
    err = ET.SubElement(case, "error", type="interrupted", message=INTERRUPTED_MESSAGE)
    err.text = INTERRUPTED_MESSAGE
    for attr in ("errors", "tests"):
        try:
            suite.set(attr, str(int(suite.get(attr, "0")) + 1))
        except ValueError:
            pass


def _failure_to_error(suite: ET.Element, case: ET.Element) -> None:
    """A check the tester could not judge: its <failure> becomes an <error type="tester-overloaded">."""
    fail = case.find("failure")
    if fail is None:
        return
    fail.tag = "error"
    fail.set("type", "tester-overloaded")
    for attr, step in (("failures", -1), ("errors", 1)):
        try:
            suite.set(attr, str(int(suite.get(attr, "0")) + step))
        except ValueError:
            pass


def complete(path: Path, suite_properties: dict[str, object], figure_verdicts: dict[str, list[tuple[str, str]]],
             interrupted: list[str] = (), overloaded: list[str] = ()) -> bool:
    """Add testsuite properties and per-testcase ``<figure>.verdict`` properties to a junit.xml.

    Properties already present are left as they are; the file is replaced atomically.
    ``figure_verdicts`` maps a nodeid to ``[(figure name, "PASS" | "FAIL"), ...]``. The nameless
    testcase pytest leaves for a check interrupted mid-way (not valid JUnit: a testcase needs a name)
    gets the nodeid from ``interrupted`` (in order) and an ``<error type="interrupted">``.
    Returns False (and leaves the file alone) when it cannot be parsed.
    """
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError):
        return False
    by_address = {mangle(n): v for n, v in figure_verdicts.items()}
    overloaded_at = {mangle(n) for n in overloaded}
    names = list(interrupted)
    for suite in _suites(tree.getroot()):
        for case in suite.findall("testcase"):
            if case.get("name") is None and case.get("classname") is None:
                _name_interrupted(suite, case, names.pop(0) if names else INTERRUPTED_NAME)
        if suite_properties:
            props = _props(suite)
            for key, value in suite_properties.items():
                _add(props, key, value)
        for case in suite.findall("testcase"):
            if (case.get("classname", ""), case.get("name", "")) in overloaded_at:
                _failure_to_error(suite, case)
            verdicts = by_address.get((case.get("classname", ""), case.get("name", "")))
            if verdicts:
                props = _props(case)
                for name, verdict in verdicts:
                    _add(props, f"{name}.verdict", verdict)
    fd, tmp = tempfile.mkstemp(prefix=".junit-", suffix=".xml", dir=str(Path(path).parent))
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # mkstemp makes it 0600: keep pytest's mode
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write('<?xml version="1.0" encoding="utf-8"?>')
            fh.write(ET.tostring(tree.getroot(), encoding="unicode"))
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    return True


def validate(path: Path) -> None:
    """Raise (xmlschema.XMLSchemaValidationError) unless ``path`` is valid JUnit XML per :data:`XSD`.

    Needs the ``xmlschema`` package (the ``test`` extra).
    """
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(path))
