"""Preflight and CPU lease on fabricated /proc and /sys trees: read-only checks, one line each."""
import fcntl
import os

import pytest

from harness import preflight
from harness.errors import UsageError
from harness.profile import parse_profile
from harness.system import lease
from tests.unit.fakesys import FakeHost


@pytest.fixture
def host(tmp_path):
    return FakeHost(tmp_path / "root")


def test_cpus_are_the_affinity_mask_within_the_cgroup_cpuset(host):
    host.write_proc("self/cgroup", "0::/agents/a1\n")
    host.write_sys("fs/cgroup/agents/a1/cpuset.cpus.effective", "1-3\n")
    assert preflight.allowed_cpus(host.proc_root, host.sys_root, affinity={0, 1, 2}, environ={}) == {1, 2}


def test_cgroup_v1_cpuset(host):
    host.write_proc("self/cgroup", "4:memory:/x\n3:cpuset:/box\n0::/\n")
    host.write_sys("fs/cgroup/cpuset/box/cpuset.effective_cpus", "0\n")
    assert preflight.allowed_cpus(host.proc_root, host.sys_root, affinity={0, 1}, environ={}) == {0}


def test_a_nested_run_uses_the_cpus_its_parent_run_was_given(host):
    env = {preflight.PARENT_CPUS_ENV: "0-1"}
    assert preflight.allowed_cpus(host.proc_root, host.sys_root, affinity={0}, environ=env) == {0, 1}
    # a mask that is not within the parent's is the user's own restriction
    assert preflight.allowed_cpus(host.proc_root, host.sys_root, affinity={3}, environ=env) == {3}


def _meminfo(host, avail_kb):
    host.write_proc("meminfo", f"MemTotal: 24000000 kB\nMemAvailable: {avail_kb} kB\n")


def test_hugepages_beyond_the_share_of_memavailable_are_refused(host):
    host.add_hugepages(2048, total=10, free=10)
    _meminfo(host, 1_000_000)  # 976 MB available: at most 244 new 2M pages
    prof = parse_profile("[eal]\nmemory_mb = 4096\n", "p.toml")
    with pytest.raises(UsageError) as info:
        preflight.check_hugepages(prof, sys_root=host.sys_root, proc_root=host.proc_root)
    assert str(info.value) == (
        "eal.memory_mb: 4096 MB needs 2056 x 2048kB hugepages; 10 are free and at most 244 more may be reserved "
        "(50% of MemAvailable 976 MB); lower eal.memory_mb to at most 492, or pre-reserve the pages yourself "
        "(hugepages=2056 on the kernel command line)")


def test_hugepages_within_reach_pass_and_the_node_pool_is_the_one_judged(host):
    host.add_hugepages(2048, total=0)
    host.add_hugepages(2048, total=200, free=200, node=1)
    _meminfo(host, 100)
    preflight.check_hugepages(parse_profile("[mempool]\nsocket = 1\n", "p.toml"),
                              sys_root=host.sys_root, proc_root=host.proc_root)
    with pytest.raises(UsageError, match="on NUMA node 0; 0 are free"):
        host.add_hugepages(2048, total=0, node=0)
        preflight.check_hugepages(parse_profile("[mempool]\nsocket = 0\n", "p.toml"),
                                  sys_root=host.sys_root, proc_root=host.proc_root)


@pytest.mark.parametrize("args, needle", [
    ('["--file-prefix=x"]', "'--file-prefix=x' is set by the harness"),
    ('["--huge-dir", "/mnt"]', "'--huge-dir' is set by the harness"),
    ('["-b", "0000:00:03.0"]', "'-b' is set by the harness"),
    ('["--legacy-mem", "--single-file-segments"]', "does not work with --legacy-mem"),
])
def test_extra_args_that_break_the_plan(args, needle):
    prof = parse_profile(f"[eal]\nmemory_mb = 512\nextra_args = {args}\n", "p.toml")
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        preflight.check_extra_args(prof)


def test_legacy_mem_needs_room_for_the_pool_and_eal():
    tight = parse_profile('[eal]\nmemory_mb = 64\nextra_args = ["--legacy-mem"]\n[mempool]\nmbufs = 8191\n', "p")
    with pytest.raises(UsageError, match="raise eal.memory_mb to at least 83 or drop --legacy-mem"):
        preflight.check_extra_args(tight)
    preflight.check_extra_args(parse_profile('[eal]\nmemory_mb = 256\nextra_args = ["--legacy-mem"]\n', "p"))


def test_eals_rejection_line_names_the_argument():
    out = ("dpdk-harness: unrecognized option '--bogus'\nEAL: Detected CPU lcores: 2\n"
           "EAL: FATAL: Invalid 'command line' arguments.\n")
    line = preflight.eal_rejection(out, [], ["--iova-mode=va", "--bogus"])
    assert line == ("EAL rejected eal.extra_args[1] '--bogus': dpdk-harness: unrecognized option '--bogus'; "
                    "fix or remove that argument (`dpdk-testpmd --help` lists EAL's options)")
    line = preflight.eal_rejection("EAL: invalid parameters for --iova-mode\n", [], ["--iova-mode=xx"])
    assert line.startswith("EAL rejected eal.extra_args[0] '--iova-mode=xx': EAL: invalid parameters for --iova-mode")
    assert preflight.eal_rejection("EAL: FATAL: Invalid 'command line' arguments.\n", [], []) is None


def test_the_lease_holder_is_read_from_proc_locks(tmp_path):
    d = tmp_path / "cpu"
    d.mkdir()
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert lease.holder(d) == os.getpid()
    finally:
        os.close(fd)
    assert lease.holder(d) is None


def test_a_held_cpu_with_no_wait_is_refused_with_a_suggestion(host):
    (host.sys_root / "devices/system/cpu/cpu1").mkdir(parents=True)
    fd = os.open(host.sys_root / "devices/system/cpu/cpu1", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # same process, another open file: flock conflicts; we are not our own ancestor
        with pytest.raises(UsageError) as info:
            lease.CpuLease({1}, sys_root=host.sys_root, timeout_s=0, suggest=lambda held: "0@0,1@0").acquire()
        assert str(info.value) == (f"CPU 1 is in use by dpdk-harness run PID {os.getpid()}; use --dpdk-lcores 0@0,1@0, "
                                   "or raise --dpdk-cpu-wait (--dpdk-share-cpus shares it: rates then say little)")
    finally:
        os.close(fd)
    got = lease.CpuLease({1}, sys_root=host.sys_root, timeout_s=0).acquire()
    assert got.held == [1]
    got.release()
