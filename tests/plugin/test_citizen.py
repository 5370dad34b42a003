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
import os
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


def test_the_ini_setting_asks_for_the_harness(pytester):
    """Steps: the plain project with ``dpdk_harness = true`` in its ini file.
    Verify: the run is a harness run: the header says what is under test and the reports are written."""
    pytester.makepyfile(test_plain=PLAIN)
    pytester.makeini("[pytest]\ndpdk_harness = true\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["dpdk-harness *, DPDK *", "profile: vdev *"])
    res = json.loads((pytester.path / "reports" / "results.json").read_text())
    assert [t["nodeid"] for t in res["tests"]] == ["test_plain.py::test_plain"]


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


# ------------------------------------------------------------------------------ a regular install


def _copy_source(dst: Path) -> Path:
    """The checkout's sources (not its venv, git data or build leftovers), to build a wheel from."""
    import shutil

    skip = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "*.so", "reports")
    shutil.copytree(REPO, dst, ignore=skip)
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with dpdk-harness installed from a built wheel (not editable), its dependencies taken
    from the test venv (a .pth line; no network needed beyond the build backend)."""
    import subprocess
    import sys
    import sysconfig
    import venv

    root = tmp_path_factory.mktemp("regular-install")
    fresh = root / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    py = fresh / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    src = _copy_source(root / "src")
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(src)],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"building and installing the wheel failed:\n{build.stdout}\n{build.stderr}"
    (site / "zz-test-venv-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([py, "-c", "import harness.plugin, harness; print(harness.__file__)"], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and where.stdout.startswith(str(site)), where.stdout + where.stderr
    return py


def test_a_regular_install_changes_nothing_for_another_project(installed, tmp_path, host_guard):
    """Steps: dpdk-harness installed from its wheel (no profiles/ next to it) in a fresh venv; a throwaway
    project with one plain test; its ``pytest``, then (with pytest-profiling) ``pytest --profile``.
    Verify: the plugin is loaded (pytest lists it) and the test passes; nothing of ours is printed,
    nothing is written, the host is unchanged; ``--profile`` is pytest-profiling's and works."""
    import subprocess

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_plain.py").write_text(PLAIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DPDK_HARNESS_", "PYTHONPATH"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    run = subprocess.run([installed, "-m", "pytest", "-p", "no:cacheprovider"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    out = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0 and "1 passed" in run.stdout, "\n".join(out)
    assert any(line.startswith("plugins:") and "dpdk-harness" in line for line in out), "\n".join(out)
    assert not _ours(out), "\n".join(out)
    assert sorted(p.name for p in project.iterdir()) == ["test_plain.py"]
    if importlib.util.find_spec("pytest_profiling") is not None:
        prof = subprocess.run([installed, "-m", "pytest", "-p", "no:cacheprovider", "--profile"], cwd=project,
                              env=env, capture_output=True, text=True, timeout=120)
        assert prof.returncode == 0 and "1 passed" in prof.stdout, prof.stdout + prof.stderr
        assert (project / "prof" / "combined.prof").is_file()
    host_guard()
