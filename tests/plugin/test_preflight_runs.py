"""Preflight: bad input for this host is one line, exit 4, and the host as it was (issue 14).

Each case would, without the preflight, let DPDK panic in rte_eal_init or take most of the
host's memory before noticing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

USES_PORTS = """
def test_uses_ports(ports):
    assert ports.ports
"""

HUGE = Path("/sys/kernel/mm/hugepages")


def _pages() -> dict[str, str]:
    return {d.name: (d / "nr_hugepages").read_text() for d in sorted(HUGE.iterdir())} if HUGE.is_dir() else {}


def test_a_run_restricted_to_fewer_cpus_than_lcores_is_refused_in_one_line(child, pytester, host_guard,
                                                                          monkeypatch):
    # a run of this pytest process (tests/system) would hand its children its own CPUs: not a taskset's
    monkeypatch.delenv("DPDK_HARNESS_PARENT_CPUS", raising=False)
    taskset = shutil.which("taskset")
    if taskset is None:
        pytest.skip("taskset (util-linux) is not installed: cannot restrict the child's CPUs")
    pytester.makepyfile(test_uses_ports=USES_PORTS)

    result = child.run_under([taskset, "-c", "0"])

    line = child.usage_error(result, "eal.lcores: lcore 1 is mapped to CPU 1",
                             "this process may only use CPU 0", "--dpdk-lcores 0@0,1@0")
    assert len(line) < 300, line
    result.stdout.no_fnmatch_line("*passed*")
    host_guard()


def test_the_suggested_lcores_then_run(child, pytester, host_guard):
    taskset = shutil.which("taskset")
    if taskset is None:
        pytest.skip("taskset (util-linux) is not installed: cannot restrict the child's CPUs")
    pytester.makepyfile(test_uses_ports=USES_PORTS)
    result = child.run_under([taskset, "-c", "0"], "--dpdk-lcores", "0@0,1@0")
    assert result.ret == 0, child.output(result)
    host_guard()


def test_a_huge_memory_mb_is_refused_with_hugepage_counts_unchanged(child, pytester, host_guard):
    profile = pytester.path / "huge.toml"
    profile.write_text('[eal]\nmemory_mb = 1048576\n')
    pytester.makepyfile(test_uses_ports=USES_PORTS)
    before = _pages()

    result = child.run(profile=profile)

    line = child.usage_error(result, "eal.memory_mb: 1048576 MB needs 524296 x 2048kB hugepages",
                             "of MemAvailable", "lower eal.memory_mb to at most")
    assert len(line) < 400, line
    assert _pages() == before, "the preflight must refuse before any hugepage is reserved"
    host_guard()


def test_legacy_mem_with_a_tight_memory_is_refused_before_eal(child, pytester, host_guard):
    profile = pytester.path / "legacy.toml"
    profile.write_text('[eal]\nmemory_mb = 32\nextra_args = ["--legacy-mem"]\n[mempool]\nmbufs = 4095\n'
                       'cache = 128\n')
    pytester.makepyfile(test_uses_ports=USES_PORTS)

    result = child.run(profile=profile)

    child.usage_error(result, "--legacy-mem", "raise eal.memory_mb to at least", "or drop --legacy-mem")
    host_guard()


def test_a_harness_owned_eal_option_is_refused(child, pytester, host_guard):
    profile = pytester.path / "prefix.toml"
    profile.write_text('[eal]\nextra_args = ["--file-prefix=mine"]\n')
    pytester.makepyfile(test_uses_ports=USES_PORTS)

    result = child.run(profile=profile)

    child.usage_error(result, "eal.extra_args[0]: '--file-prefix=mine' is set by the harness",
                      "remove it from extra_args")
    host_guard()


def test_an_argument_eal_rejects_is_named_with_eals_own_line(child, pytester, host_guard):
    profile = pytester.path / "bogus.toml"
    profile.write_text('[eal]\nextra_args = ["--iova-mode=va", "--bogus-option"]\n')
    pytester.makepyfile(test_uses_ports=USES_PORTS)

    result = child.run(profile=profile)

    out = child.output(result)
    assert result.ret == child.EXIT_USAGE, out
    child.no_traceback(result)
    (line,) = child.exit_lines(result)
    assert "EAL rejected eal.extra_args[1] '--bogus-option'" in line, line
    assert "unrecognized option" in line and "fix or remove that argument" in line, line
    assert "--file-prefix" not in line, f"the whole argv should not be echoed: {line}"
    host_guard()
