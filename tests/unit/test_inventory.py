"""Host inventory parsed from a fabricated /sys and /proc."""
from __future__ import annotations

from fakesys import FakeHost

from harness.system.inventory import host_inventory

CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
flags\t\t: fpu vme tsc msr pae sse4_1 sse4_2 avx avx2 avx512f avx512bw pdpe1gb constant_tsc nonstop_tsc rdtscp

processor\t: 1
model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz
flags\t\t: fpu
"""


def _host(tmp_path, cmdline):
    h = FakeHost(tmp_path / "host")
    h.write_proc("cpuinfo", CPUINFO)
    h.write_proc("cmdline", cmdline)
    h.write_proc("sys/kernel/osrelease", "6.1.0-18-amd64\n")
    h.write_sys("devices/system/cpu/online", "0-63\n")
    h.write_sys("devices/system/node/online", "0-1\n")
    h.add_hugepages(2048, total=128, free=120)
    h.add_hugepages(1048576, total=0)
    h.add_hugepages(2048, total=64, free=60, node=0)
    return h


def test_inventory_of_a_tuned_host(tmp_path):
    h = _host(tmp_path, "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro isolcpus=2-31 nohz_full=2-31 "
                        "rcu_nocbs=2-31 intel_iommu=on iommu=pt quiet -- isolcpus=nope\n")
    assert host_inventory(sys_root=h.sys_root, proc_root=h.proc_root) == {
        "cpu_model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        "cpu_flags": "sse4_2 avx2 avx512f pdpe1gb constant_tsc nonstop_tsc tsc",
        "tsc_invariant": "yes",
        "cpus_online": "0-63",
        "numa_nodes": "0-1",
        "kernel": "6.1.0-18-amd64",
        "cmdline_isolcpus": "2-31",
        "cmdline_nohz_full": "2-31",
        "cmdline_rcu_nocbs": "2-31",
        "cmdline_iommu": "intel_iommu=on iommu=pt",
        "kernel_cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro isolcpus=2-31 nohz_full=2-31 rcu_nocbs=2-31 "
                          "intel_iommu=on iommu=pt quiet -- isolcpus=nope",
        "hugepages": "2048kB: 128 total, 120 free; 1048576kB: 0 total",
    }


def test_inventory_of_a_plain_host_is_all_strings(tmp_path):
    h = _host(tmp_path, "console=ttyS0 quiet\n")
    (h.proc_root / "cpuinfo").write_text("processor\t: 0\nmodel name\t: QEMU\nflags\t\t: fpu tsc\n")
    inv = host_inventory(sys_root=h.sys_root, proc_root=h.proc_root)
    assert inv["cpu_flags"] == "tsc" and inv["tsc_invariant"] == "no"
    assert inv["cmdline_isolcpus"] == inv["cmdline_iommu"] == ""
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in inv.items())


def test_inventory_of_an_empty_tree_does_not_raise(tmp_path):
    inv = host_inventory(sys_root=tmp_path / "sys", proc_root=tmp_path / "proc")
    assert inv["cpu_model"] == "" and inv["hugepages"] == "" and inv["numa_nodes"] == "0"


def test_online_cpus_parses_ranges(tmp_path):
    from harness.system.inventory import online_cpus
    (tmp_path / "devices/system/cpu").mkdir(parents=True)
    (tmp_path / "devices/system/cpu/online").write_text("0-3,6,8-9\n")
    assert online_cpus(tmp_path) == {0, 1, 2, 3, 6, 8, 9}


def test_a_lab_run_is_marked_as_an_emulated_nic(tmp_path):
    h = _host(tmp_path, "BOOT_IMAGE=/vmlinuz\n")
    plain = host_inventory(sys_root=h.sys_root, proc_root=h.proc_root, env={})
    assert "emulated_nic" not in plain
    lab = host_inventory(sys_root=h.sys_root, proc_root=h.proc_root, env={"DPDK_HARNESS_LAB": "igb (QEMU 10.0.2, tcg)"})
    assert lab["emulated_nic"] == "igb (QEMU 10.0.2, tcg)"
