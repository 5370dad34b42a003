"""Hugepage pools and mounts on a fabricated sysfs/proc tree."""
from __future__ import annotations

import json

import pytest
from fakesys import FakeHost

from harness.errors import HostError
from harness.system import hugepages as hp
from harness.system.hugepages import (
    PagePool,
    ensure_free,
    ensure_mount,
    find_mount,
    read_pools,
)
from harness.system.journal import Journal


@pytest.fixture
def host(tmp_path):
    h = FakeHost(tmp_path / "host")
    h.add_hugepages(2048, total=128, free=120)
    h.add_hugepages(1048576, total=0)
    h.add_hugepages(2048, total=64, free=60, node=0)
    h.add_hugepages(2048, total=64, free=60, node=1)
    h.add_hugepages(1048576, total=0, node=0)
    return h


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "state", run_id="run-test")


def test_read_pools_global_then_per_node(host):
    assert read_pools(sys_root=host.sys_root) == [
        PagePool(2048, None, 128, 120),
        PagePool(1048576, None, 0, 0),
        PagePool(2048, 0, 64, 60),
        PagePool(1048576, 0, 0, 0),
        PagePool(2048, 1, 64, 60),
    ]


def test_enough_free_pages_changes_nothing(host, journal):
    pool = ensure_free(journal, 2048, 100, sys_root=host.sys_root, kernel=host.kernel)
    assert pool == PagePool(2048, None, 128, 120)
    assert host.writes == []
    assert not journal.path.exists()


def test_reserve_records_first_then_writes_and_reads_back(host, journal):
    nr = host.sys_root / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    seen = []
    host.on_write = lambda path, value: seen.append(json.loads(journal.path.read_text())["changes"])

    pool = ensure_free(journal, 2048, 200, sys_root=host.sys_root, kernel=host.kernel)

    assert pool == PagePool(2048, None, 208, 200)  # 128 + (200 - 120)
    assert host.writes == [(str(nr.relative_to(host.root)), "208")]
    # the journal held the previous value when the write happened
    assert seen[0][-1]["kind"] == "hugepages_add"
    assert seen[0][-1]["data"] == {"path": str(nr), "previous": "128", "added": 80}
    # undo puts it back
    assert journal.undo_all() == []
    assert nr.read_text().strip() == "128"


def test_reserve_on_a_numa_node(host, journal):
    pool = ensure_free(journal, 2048, 100, node=1, sys_root=host.sys_root, kernel=host.kernel)
    assert pool == PagePool(2048, 1, 104, 100)
    assert host.writes[0][0].endswith("node/node1/hugepages/hugepages-2048kB/nr_hugepages")


def test_short_grant_is_rolled_back_and_forgotten(host, journal):
    nr = host.sys_root / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    host.hugepage_limit[nr] = 150
    with pytest.raises(HostError) as exc:
        ensure_free(journal, 2048, 200, sys_root=host.sys_root, kernel=host.kernel)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("asked the kernel for 208 x 2048kB hugepages, got 150")
    assert "hugepagesz=2M hugepages=208" in msg and "eal.memory_mb" in msg
    assert [v for _, v in host.writes] == ["208", "128"]
    assert nr.read_text().strip() == "128"
    assert len(journal) == 0 and not journal.path.exists()


def test_permission_error_names_the_file_and_the_fixes(host, journal):
    nr = host.sys_root / "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
    host.denied.add(nr)
    with pytest.raises(HostError) as exc:
        ensure_free(journal, 1048576, 2, sys_root=host.sys_root, kernel=host.kernel)
    msg = str(exc.value)
    assert "\n" not in msg
    assert f"cannot write {nr}" in msg
    assert "run as root" in msg and f"`echo 2 > {nr}`" in msg and "eal.hugepages = false" in msg
    assert len(journal) == 0


def test_unknown_page_size_lists_the_supported_ones(host, journal):
    with pytest.raises(HostError, match=r"no 4096kB hugepages \(supported: 2048kB, 1048576kB\)"):
        ensure_free(journal, 4096, 1, sys_root=host.sys_root, kernel=host.kernel)


def test_unknown_node(host, journal):
    with pytest.raises(HostError, match=r"NUMA node 3 .*\(nodes: 0, 1\)"):
        ensure_free(journal, 2048, 1, node=3, sys_root=host.sys_root, kernel=host.kernel)


# -- mounts ---------------------------------------------------------------------------------


def test_find_mount_by_pagesize_option(host):
    host.set_mounts(
        "proc /proc proc rw,nosuid 0 0",
        "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0",
        "nodev /mnt/huge\\0401G hugetlbfs rw,relatime,pagesize=1024M 0 0",
    )
    assert find_mount(2048, proc_root=host.proc_root) == "/dev/hugepages"
    assert find_mount(1048576, proc_root=host.proc_root) == "/mnt/huge 1G"
    assert find_mount(64, proc_root=host.proc_root) is None


def test_find_mount_without_option_uses_the_default_size(host):
    host.set_mounts("none /dev/hugepages hugetlbfs rw,relatime 0 0")
    assert find_mount(2048, proc_root=host.proc_root) == "/dev/hugepages"
    assert find_mount(1048576, proc_root=host.proc_root) is None
    found = find_mount(1048576, proc_root=host.proc_root, default_size_kb=1048576)
    assert found == "/dev/hugepages"


def test_find_mount_none_and_no_proc(host, tmp_path):
    host.set_mounts("tmpfs /run tmpfs rw 0 0")
    assert find_mount(2048, proc_root=host.proc_root) is None
    assert find_mount(2048, proc_root=tmp_path / "nowhere") is None


def test_ensure_mount_uses_an_existing_mount(host, journal):
    host.set_mounts("hugetlbfs /dev/hugepages hugetlbfs rw,pagesize=2M 0 0")
    calls = []
    assert ensure_mount(journal, 2048, base=host.root / "base", proc_root=host.proc_root,
                        mounter=lambda *a: calls.append(a)) == "/dev/hugepages"
    assert calls == [] and len(journal) == 0


def test_ensure_mount_records_then_mounts(host, journal):
    host.set_mounts("tmpfs /run tmpfs rw 0 0")
    base = host.root / "base"
    target = base / journal.run_id / "hugepages-1048576kB"  # this run's own, never shared
    calls = []

    def mounter(tgt, size_kb):
        doc = json.loads(journal.path.read_text())
        assert doc["changes"][-1]["data"] == {"target": str(target)}
        calls.append((tgt, size_kb))

    assert ensure_mount(journal, 1048576, base=base, proc_root=host.proc_root,
                        mounter=mounter) == str(target)
    assert calls == [(str(target), 1048576)] and target.is_dir()
    # undo: not a mount point here, so just the empty directory goes
    assert journal.undo_all() == []
    assert not target.exists() and not target.parent.exists()


def test_another_runs_mount_is_not_reused(host, journal):
    """A mount under the state dir belongs to another run, which unmounts it when it ends."""
    base = host.root / "base"
    host.set_mounts(f"nodev {base}/run-other/hugepages-2048kB hugetlbfs rw,pagesize=2M 0 0",
                    "nodev /dev/hugepages hugetlbfs rw,pagesize=2M 0 0")
    assert ensure_mount(journal, 2048, base=base, proc_root=host.proc_root,
                        mounter=lambda *a: None) == "/dev/hugepages"
    host.set_mounts(f"nodev {base}/run-other/hugepages-2048kB hugetlbfs rw,pagesize=2M 0 0")
    assert ensure_mount(journal, 2048, base=base, proc_root=host.proc_root,
                        mounter=lambda *a: None) == str(base / journal.run_id / "hugepages-2048kB")


def test_ensure_mount_failure_is_rolled_back(host, journal):
    host.set_mounts("")
    base = host.root / "base"

    def mounter(tgt, size_kb):
        raise OSError(32, "mount: only root can use \"--types\" option")

    with pytest.raises(HostError) as exc:
        ensure_mount(journal, 2048, base=base, proc_root=host.proc_root, mounter=mounter)
    msg = str(exc.value)
    assert "\n" not in msg and "only root" in msg
    assert "mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages" in msg
    assert not (base / "hugepages-2048kB").exists() and len(journal) == 0


def test_size_text():
    assert [hp.size_text(k) for k in (64, 2048, 32768, 1048576)] == ["64K", "2M", "32M", "1G"]


def test_overlapping_runs_each_give_back_only_their_own_pages(host, tmp_path):
    """A reserves (0 -> 136), B reserves on top (136 -> 272), A ends first: B keeps its pages."""
    from harness.system.journal import Journal
    d = host.add_hugepages(2048, 0, 0)
    nr = d / "nr_hugepages"
    a, b = Journal(tmp_path / "a", "run-a"), Journal(tmp_path / "b", "run-b")
    ensure_free(a, 2048, 136, sys_root=host.sys_root, kernel=host.kernel)
    (d / "free_hugepages").write_text("0\n")  # A's EAL maps them all
    ensure_free(b, 2048, 136, sys_root=host.sys_root, kernel=host.kernel)
    assert nr.read_text().strip() == "272"
    assert a.undo_all() == []
    assert nr.read_text().strip() == "136"  # not A's stale "previous" of 0
    assert b.undo_all() == []
    assert nr.read_text().strip() == "0"
