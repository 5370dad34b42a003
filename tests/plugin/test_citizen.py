"""The plugin as a pytest citizen: inert next to other projects, reports for the suites only.

dpdk-harness registers through ``pytest11``, so it is loaded by every pytest run in an environment
where it is installed (the test venv is one). These runs show it changes nothing there unless asked:
no header, no profile, no EAL, no file; that pytest-profiling's ``--profile`` works beside it; that
pytest-xdist's ``-n`` is refused in one line; that ``--lf`` works; and that a run of the suites together
with other tests (``./harness.sh test``) leaves ``reports/`` as the last suites run wrote it.
"""
from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLAIN = """
def test_plain():
    assert 1 + 1 == 2
"""


def _tree(root: Path) -> set[str]:
    """Every file and directory under ``root``, but pytest's bytecode caches and pytester's own files
    (its basetemp ``runpytest-*``, the child's ``stdout`` and ``stderr``)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if "__pycache__" not in p.parts and not p.relative_to(root).parts[0].startswith("runpytest")
            and p.relative_to(root).parts[0] not in ("stdout", "stderr")}


def _ours(lines: list[str]) -> list[str]:
    """Lines the harness printed (pytest's own "plugins: dpdk-harness-..." listing is not ours)."""
    return [line for line in lines if ("dpdk-harness" in line or "dpdk" in line.lower() or "hugepage" in line)
            and not line.startswith("plugins:")]


def test_a_plain_project_sees_nothing_of_the_harness(pytester, host_guard):
    """Steps: a throwaway project with one plain test, no option of ours; run its pytest.
    Verify: it passes, prints nothing of ours, writes nothing (no reports/, no junit.xml), the host is
    unchanged (no hugepages, no EAL runtime directory)."""
    pytester.makepyfile(test_plain=PLAIN)
    before = _tree(pytester.path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert not _ours(result.outlines + result.errlines), "\n".join(result.outlines + result.errlines)
    assert _tree(pytester.path) == before, f"the run wrote {sorted(_tree(pytester.path) - before)}"
    host_guard()


@pytest.mark.skipif(importlib.util.find_spec("pytest_profiling") is None,
                    reason="pytest-profiling is not installed (pip install -e .[test] installs it)")
def test_pytest_profiling_profile_option_works_beside_the_harness(pytester):
    """Steps: the plain project, run with pytest-profiling's ``--profile``.
    Verify: pytest starts (no option clash), the test passes, and the profile is written."""
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--profile")
    result.assert_outcomes(passed=1)
    assert result.ret == 0, "\n".join(result.outlines + result.errlines)
    assert (pytester.path / "prof" / "combined.prof").is_file()


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None,
                    reason="pytest-xdist is not installed (pip install -e .[test] installs it)")
def test_xdist_is_refused_in_one_line(child, pytester, host_guard):
    """Steps: a harness run (--dpdk-profile) with ``-n 2``.
    Verify: exit 4 and one ERROR line naming -n and why (one EAL per process); nothing changed."""
    pytester.makepyfile(test_x="def test_uses_ports(ports):\n    pass\n")
    result = child.run("-n", "2")
    child.usage_error(result, "-n", "EAL", "run without -n")
    host_guard()


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_xdist_in_a_plain_project_is_not_our_business(pytester):
    pytester.makepyfile(test_plain=PLAIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=1)


def test_last_failed_works_in_a_harness_run(pytester):
    """Steps: a harness run (--dpdk-profile) with one failing and one passing check, then ``--lf``.
    Verify: the second run runs the failed check only. The repository's own ini does not turn the
    cache off either (CI passes ``-p no:cacheprovider`` itself, in .ci/run)."""
    pytester.makepyfile(test_lf="def test_ok():\n    pass\n\ndef test_bad():\n    assert False\n")
    profile = f"--dpdk-profile={REPO / 'profiles' / 'vdev.toml'}"
    first = pytester.runpytest_subprocess(profile, "--dpdk-report-dir", pytester.path / "out")
    first.assert_outcomes(passed=1, failed=1)
    again = pytester.runpytest_subprocess(profile, "--dpdk-report-dir", pytester.path / "out", "--lf")
    again.assert_outcomes(failed=1)
    addopts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"].get("addopts", "")
    assert "cacheprovider" not in addopts, f"pyproject.toml addopts {addopts!r} turns --lf off for every user"


SUITE_CHECK = "def test_suite_check():\n    pass\n"
OWN_TEST = "def test_own():\n    pass\n"


def _suites_project(pytester) -> None:
    """A checkout in miniature: suites/ (marked as the suites) and tests/ (the harness's own)."""
    pytester.makeini("[pytest]\n")  # the rootdir, as pyproject.toml is in the repository
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "conftest.py").write_text((REPO / "suites" / "conftest.py").read_text())
    (pytester.path / "suites" / "test_s.py").write_text(SUITE_CHECK)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_own.py").write_text(OWN_TEST)


def test_our_tests_beside_the_suites_leave_reports_alone(pytester, host_guard):
    """Steps: run the suites alone (writes reports/), then the suites together with our own tests, as
    ``./harness.sh test`` does.
    Verify: the first run's reports cover the suite's check only; the second run says it writes no
    reports and leaves reports/ byte for byte as the first run left it."""
    _suites_project(pytester)
    profile = f"--dpdk-profile={REPO / 'profiles' / 'vdev.toml'}"
    suites_run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suites")  # no option: the suites ask
    suites_run.assert_outcomes(passed=1)
    reports = pytester.path / "reports"
    res = json.loads((reports / "results.json").read_text())
    assert [t["nodeid"] for t in res["tests"]] == ["suites/test_s.py::test_suite_check"]
    snapshot = {p.name: p.read_bytes() for p in reports.iterdir()}

    both = pytester.runpytest_subprocess("-p", "no:cacheprovider", profile, "tests", "suites")
    both.assert_outcomes(passed=2)
    both.stdout.fnmatch_lines(["*dpdk-harness: reports not written: this run collects tests outside the suites*"])
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == snapshot, "reports/ changed"

    out = pytester.path / "out"
    scoped = pytester.runpytest_subprocess("-p", "no:cacheprovider", profile, "--dpdk-report-dir", out,
                                           "tests", "suites")
    scoped.assert_outcomes(passed=2)
    res = json.loads((out / "results.json").read_text())
    assert [t["nodeid"] for t in res["tests"]] == ["suites/test_s.py::test_suite_check"], res["tests"]
    assert res["outcomes"]["passed"] == 1 and res["suites"][0]["verdict"] == "passed"
    host_guard()
