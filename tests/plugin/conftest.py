"""Helpers for the pytester runs of the plugin.

Every test here runs pytest in a subprocess (``pytester.runpytest_subprocess``) against a small
test file written into ``pytester.path``. The helpers below

* run the child with ``-p no:cacheprovider`` and an explicit ``--profile``;
* assert the "bad input" contract: exit code 4, one ``ERROR: ...`` line, no traceback;
* take a snapshot of everything the harness may change on the host (hugepage pools, hugetlbfs
  mounts, its state directory, EAL runtime directories, network namespaces) so a test can
  assert that the child left the host as it found it;
* build fabricated sysfs trees (``DPDK_HARNESS_SYS_ROOT``) with tests/unit/fakesys.py.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
VDEV_PROFILE = REPO / "profiles" / "vdev.toml"
EXIT_USAGE = 4  # pytest.ExitCode.USAGE_ERROR, and fixtures.EXIT_HARNESS_ERROR
CHILD_TIMEOUT_S = 120

sys.path.insert(0, str(REPO / "tests" / "unit"))
from fakesys import FakeHost  # noqa: E402  (the fake-tree builders of the unit tests)

__all__ = ["FakeHost", "REPO", "VDEV_PROFILE", "EXIT_USAGE", "HostSnapshot", "run_harness",
           "assert_usage_error", "no_traceback"]


# ------------------------------------------------------------------------------ running


def run_harness(pytester: pytest.Pytester, *args, profile: Path | str | None = VDEV_PROFILE):
    """``pytest -p no:cacheprovider --profile <profile> *args`` in a subprocess of pytester.path."""
    extra = [f"--profile={profile}"] if profile is not None else []
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *extra, *map(str, args),
                                         timeout=CHILD_TIMEOUT_S)


def output_of(result) -> str:
    return "\n".join(result.outlines + result.errlines)


def no_traceback(result) -> None:
    out = output_of(result)
    assert "Traceback" not in out, f"the child printed a traceback:\n{out}"
    assert "INTERNALERROR" not in out, f"the child hit an internal error:\n{out}"


def assert_usage_error(result, *needles: str) -> str:
    """Exit 4, exactly one ``ERROR: ...`` line on stderr holding every needle, no traceback."""
    out = output_of(result)
    assert result.ret == EXIT_USAGE, f"expected exit code {EXIT_USAGE} (usage error), got {result.ret}:\n{out}"
    no_traceback(result)
    errors = [line for line in result.errlines if line.startswith("ERROR: ")]
    assert len(errors) == 1, f"expected one 'ERROR: ...' line on stderr, got {errors!r}:\n{out}"
    line = errors[0]
    for needle in needles:
        assert needle in line, f"{needle!r} not in the error line {line!r}"
    return line


def exit_lines(result) -> list[str]:
    """The lines pytest prints for ``pytest.exit(msg)``: ``!!! _pytest.outcomes.Exit: msg !!!``."""
    return [line for line in result.outlines + result.errlines if "_pytest.outcomes.Exit:" in line]


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
        return cls(tuple(pages), mounts, state, runtime, _netns())

    def additions(self, after: "HostSnapshot") -> list[str]:
        """What ``after`` has that this snapshot did not (the changes a run could have left)."""
        out = []
        before_pages = dict(self.nr_hugepages)
        for size, n in after.nr_hugepages:
            if n != before_pages.get(size, 0):
                out.append(f"{HUGEPAGES}/{size}/nr_hugepages: {before_pages.get(size, 0)} -> {n}")
        out += [f"hugetlbfs mount: {m}" for m in after.hugetlbfs_mounts if m not in self.hugetlbfs_mounts]
        if after.state_dir is not None:
            if self.state_dir is None:
                out.append(f"{STATE_DIR} appeared")
            out += [f"{STATE_DIR}/{n}" for n in after.state_dir if n not in (self.state_dir or ())]
        out += [f"{RUNTIME_BASE}/{n}" for n in after.runtime_dirs if n not in self.runtime_dirs]
        out += [f"netns {n}" for n in after.netns if n not in self.netns]
        return out


def _own_pids() -> set[int]:
    import psutil

    me = psutil.Process()
    return {me.pid} | {p.pid for p in me.parents()} | {p.pid for p in me.children(recursive=True)}


def foreign_runs() -> list[str]:
    """Other live processes that may be changing the same host: harness runs, other pytest runs.

    Developers run tests/system and the suites side by side with these tests; what such a run
    holds at the moment is not something our child left behind.
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


def _attributable(item: str, foreign: bool) -> bool:
    """Is this addition ours, i.e. not explained by another live run sharing the host?"""
    name = item.rsplit("/", 1)[-1].split()[-1]
    pid = _pid_of(name.removesuffix(".json"))
    if pid is not None:
        import psutil

        return not psutil.pid_exists(pid)  # our child is gone; a live owner is someone else
    # hugepage counts, the shared hugetlbfs mount, the state dir itself: only ours if nobody else runs
    return not foreign


def assert_host_unchanged(before: HostSnapshot, settle_s: float = 2.0, foreign_wait_s: float = 30.0) -> None:
    """The host is as ``before`` (allowing for other harness runs that share it right now)."""
    deadline = time.monotonic() + settle_s
    foreign = foreign_runs()
    if foreign:
        deadline = time.monotonic() + foreign_wait_s
    while True:
        after = HostSnapshot.take()
        added = before.additions(after)
        foreign = foreign_runs()
        left = [a for a in added if _attributable(a, bool(foreign))]
        if not left:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    pytest.fail("the harness run left the host changed:\n  " + "\n  ".join(left)
                + (f"\n(other runs alive: {foreign})" if foreign else ""), pytrace=False)


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
