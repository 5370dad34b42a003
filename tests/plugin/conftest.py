"""Helpers for the pytester runs of the plugin.

Every test here runs pytest in a subprocess (``pytester.runpytest_subprocess``) against a small
test file written into ``pytester.path``. The fixtures below

* ``child``: runs the child with ``-p no:cacheprovider`` and an explicit ``--dpdk-profile``, and
  checks the "bad input" contract (exit code 4, one ``ERROR: ...`` line, no traceback);
* ``host_guard``: a snapshot of everything the harness may change on the host (hugepage pools,
  hugetlbfs mounts, its state directory, EAL runtime directories, network namespaces), so a
  test can assert that the child left the host as it found it;
* ``fake_host``: a fabricated sysfs tree for ``DPDK_HARNESS_SYS_ROOT``, built with
  tests/unit/fakesys.py.

The ``pytester`` fixture is enabled by the repository-level conftest.py. Test modules use these
fixtures rather than ``import conftest``: with several conftest.py files
in one run (``pytest tests/plugin tests/system``), ``import conftest`` finds whichever was
imported last.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# pytester itself comes from the repository-level conftest.py (``pytest_plugins = ["pytester"]``):
# pytest refuses pytest_plugins in a conftest below the rootdir whenever the run starts above it
# (``pytest tests/ suites/``, as CI does), so it cannot live here.

REPO = Path(__file__).resolve().parents[2]
VDEV_PROFILE = REPO / "profiles" / "vdev.toml"
EXIT_USAGE = 4  # pytest.ExitCode.USAGE_ERROR, and fixtures.EXIT_HARNESS_ERROR
CHILD_TIMEOUT_S = 120


def _load_fakesys():
    """tests/unit/fakesys.py under a name of its own (no sys.path change, no clash with tests/unit)."""
    spec = importlib.util.spec_from_file_location("_plugin_tests_fakesys", REPO / "tests" / "unit" / "fakesys.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FakeHost = _load_fakesys().FakeHost


# ------------------------------------------------------------------------------ running


class Child:
    """Runs of pytest in a subprocess of ``pytester.path``, and checks of what they print."""

    EXIT_USAGE = EXIT_USAGE
    VDEV_PROFILE = VDEV_PROFILE

    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester

    def run(self, *args, profile: Path | str | None = VDEV_PROFILE):
        """``pytest -p no:cacheprovider --dpdk-profile=<profile> *args`` through ``runpytest_subprocess``."""
        extra = [f"--dpdk-profile={profile}"] if profile is not None else []
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *extra, *map(str, args),
                                                  timeout=CHILD_TIMEOUT_S)

    def run_under(self, prefix: list[str], *args, profile: Path | str | None = VDEV_PROFILE):
        """The same run, with the interpreter started through ``prefix`` (e.g. ``setpriv ...``)."""
        extra = [f"--dpdk-profile={profile}"] if profile is not None else []
        return self.pytester.run(*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                                 f"--basetemp={self.pytester.path / 'basetemp'}", *extra, *map(str, args),
                                 timeout=CHILD_TIMEOUT_S)

    @staticmethod
    def output(result) -> str:
        return "\n".join(result.outlines + result.errlines)

    @classmethod
    def no_traceback(cls, result) -> None:
        out = cls.output(result)
        assert "Traceback" not in out, f"the child printed a traceback:\n{out}"
        assert "INTERNALERROR" not in out, f"the child hit an internal error:\n{out}"

    @classmethod
    def usage_error(cls, result, *needles: str) -> str:
        """Exit 4, exactly one ``ERROR: ...`` line on stderr holding every needle, no traceback."""
        out = cls.output(result)
        assert result.ret == EXIT_USAGE, f"expected exit code {EXIT_USAGE} (usage error), got {result.ret}:\n{out}"
        cls.no_traceback(result)
        errors = [line for line in result.errlines if line.startswith("ERROR: ")]
        assert len(errors) == 1, f"expected one 'ERROR: ...' line on stderr, got {errors!r}:\n{out}"
        for needle in needles:
            assert needle in errors[0], f"{needle!r} not in the error line {errors[0]!r}"
        return errors[0]

    @staticmethod
    def exit_lines(result) -> list[str]:
        """What pytest prints for ``pytest.exit(msg)``: ``!!! _pytest.outcomes.Exit: msg !!!``."""
        return [line for line in result.outlines + result.errlines if "_pytest.outcomes.Exit:" in line]


@pytest.fixture
def child(pytester) -> Child:
    return Child(pytester)


# ------------------------------------------------------------------------------ the host


HUGEPAGES = Path("/sys/kernel/mm/hugepages")
STATE_DIR = Path("/run/dpdk-harness")
RUNTIME_BASE = Path("/var/run/dpdk")
NETNS_DIR = Path("/run/netns")

# names that carry the pid of the process that made them (so another live run can be told apart)
_PID_IN_NAME = (
    re.compile(r"^dh-(\d+)-"),           # EAL --file-prefix: /var/run/dpdk/dh-<pid>-<hex>
    re.compile(r"^run-(\d+)-"),          # journal: /run/dpdk-harness/run-<pid>-<hex>.json
    re.compile(r"^dh(\d+)$"),            # af_packet netns: dh<pid>
)


def _pid_of(name: str) -> int | None:
    for rx in _PID_IN_NAME:
        m = rx.match(name)
        if m:
            return int(m.group(1))
    return None


def _netns() -> tuple[str, ...]:
    if shutil.which("ip"):
        res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        return tuple(sorted(line.split()[0] for line in res.stdout.splitlines() if line.strip()))
    return tuple(sorted(os.listdir(NETNS_DIR))) if NETNS_DIR.is_dir() else ()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@dataclasses.dataclass(frozen=True)
class HostSnapshot:
    nr_hugepages: tuple[tuple[str, int], ...]
    hugetlbfs_mounts: tuple[str, ...]
    state_dir: tuple[str, ...] | None  # contents of /run/dpdk-harness, None when absent
    runtime_dirs: tuple[str, ...]      # /var/run/dpdk/dh-*
    netns: tuple[str, ...]
    others: tuple[str, ...] = dataclasses.field(default=(), compare=False)  # foreign runs seen

    @classmethod
    def take(cls) -> "HostSnapshot":
        pages = []
        if HUGEPAGES.is_dir():
            for d in sorted(HUGEPAGES.iterdir()):
                try:
                    pages.append((d.name, int(_read(d / "nr_hugepages") or 0)))
                except ValueError:
                    pass
        mounts = tuple(sorted(line for line in _read(Path("/proc/mounts")).splitlines()
                              if len(line.split()) > 2 and line.split()[2] == "hugetlbfs"))
        state = tuple(sorted(os.listdir(STATE_DIR))) if STATE_DIR.is_dir() else None
        runtime = tuple(sorted(p.name for p in RUNTIME_BASE.glob("dh-*"))) if RUNTIME_BASE.is_dir() else ()
        return cls(tuple(pages), mounts, state, runtime, _netns(), tuple(foreign_runs()))

    def changes(self, after: "HostSnapshot") -> list[tuple[str, str | None]]:
        """``(what changed, name carrying its owner's pid or None)`` from this snapshot to ``after``."""
        out: list[tuple[str, str | None]] = []
        before_pages, after_pages = dict(self.nr_hugepages), dict(after.nr_hugepages)
        for size in sorted(set(before_pages) | set(after_pages)):
            if before_pages.get(size, 0) != after_pages.get(size, 0):
                out.append((f"{HUGEPAGES}/{size}/nr_hugepages: {before_pages.get(size, 0)} -> "
                            f"{after_pages.get(size, 0)}", None))
        out += [(f"hugetlbfs mount added: {m}", None) for m in after.hugetlbfs_mounts if m not in self.hugetlbfs_mounts]
        out += [(f"hugetlbfs mount removed: {m}", None) for m in self.hugetlbfs_mounts if m not in after.hugetlbfs_mounts]
        if (self.state_dir is None) != (after.state_dir is None):
            out.append((f"{STATE_DIR} {'appeared' if after.state_dir is not None else 'vanished'}", None))
        for name in after.state_dir or ():
            if name not in (self.state_dir or ()):
                out.append((f"{STATE_DIR}/{name} appeared", name.removesuffix(".json")))
        out += [(f"{RUNTIME_BASE}/{n} appeared", n) for n in after.runtime_dirs if n not in self.runtime_dirs]
        out += [(f"netns {n} appeared", n) for n in after.netns if n not in self.netns]
        out += [(f"netns {n} vanished", None) for n in self.netns if n not in after.netns]
        return out


def _own_pids() -> set[int]:
    import psutil

    me = psutil.Process()
    return {me.pid} | {p.pid for p in me.parents()} | {p.pid for p in me.children(recursive=True)}


def foreign_runs() -> list[str]:
    """Other live processes that may be changing the same host: harness runs, other pytest runs.

    Developers run tests/system and the suites side by side with these tests; what such a run
    takes or gives back meanwhile is not something our child did.
    """
    import psutil

    own = _own_pids()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or ())
        except (psutil.Error, TypeError):
            continue
        if proc.info["pid"] in own:
            continue
        if "pytest" in cmd or "harness" in cmd or "dpdk" in cmd:
            found.append(f"{proc.info['pid']}: {cmd[:120]}")
    return found


def _ours(change: tuple[str, str | None], others: bool) -> bool:
    """Could our (finished) child have made this change?"""
    what, named = change
    pid = _pid_of(named) if named else None
    if pid is not None:
        import psutil

        return not psutil.pid_exists(pid)  # our child is gone; a live owner is another run
    # hugepage counts, the shared mount, the state dir itself: another run explains them, if one ran
    return not others


def assert_host_unchanged(before: HostSnapshot, settle_s: float = 2.0, others_wait_s: float = 30.0) -> None:
    """The host is as in ``before``; changes another live harness run explains are let through.

    Without other runs the comparison is exact. With them, changes whose owner can be told by the
    pid in their name (EAL runtime dirs, journals, netns) must belong to a live process, and the
    shared ones (hugepage counts, mounts, the state dir) are put down to them. Changes left over are
    polled for ``settle_s`` (``others_wait_s`` while other runs are about) before the test fails.
    """
    start = time.monotonic()
    while True:
        after = HostSnapshot.take()
        others = bool(before.others or after.others)
        left = [what for what, named in before.changes(after) if _ours((what, named), others)]
        if not left:
            return
        if time.monotonic() - start > (others_wait_s if others else settle_s):
            break
        time.sleep(0.2)
    seen = sorted(set(before.others) | set(after.others))
    pytest.fail("the harness run left the host changed:\n  " + "\n  ".join(left)
                + (f"\n(other runs alive meanwhile: {seen})" if seen else ""), pytrace=False)


@pytest.fixture
def host_guard():
    """Snapshot the host before the test; the test calls ``host_guard()`` to check it after."""
    before = HostSnapshot.take()

    def check():
        assert_host_unchanged(before)

    return check


@pytest.fixture(autouse=True)
def _child_env(monkeypatch):
    """The children see neither a profile nor a sysfs root from the developer's shell."""
    monkeypatch.delenv("DPDK_HARNESS_PROFILE", raising=False)
    monkeypatch.delenv("DPDK_HARNESS_SYS_ROOT", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)


@pytest.fixture
def fake_host(tmp_path) -> FakeHost:
    """A fabricated /sys (and /proc) under tmp_path, with a 2M hugepage pool that has nothing free."""
    host = FakeHost(tmp_path / "fakeroot")
    host.add_hugepages(2048, total=0)
    return host
