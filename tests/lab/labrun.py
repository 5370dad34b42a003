"""Helpers of the lab tests: the lab's NICs, lab-profile mutations, and what sysfs says of a NIC."""
from __future__ import annotations

import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
LAB_PROFILE = REPO / "profiles" / "lab-igb.toml"

sys.path.insert(0, str(REPO / "tests" / "mutations"))
from mutate import SuiteRun, dump_profile, mutated_profile, run_suite  # noqa: E402,F401

IGB = [os.environ.get("DPDK_HARNESS_LAB_IGB0", ""), os.environ.get("DPDK_HARNESS_LAB_IGB1", "")]
E1000E = os.environ.get("DPDK_HARNESS_LAB_E1000E", "")
MGMT = os.environ.get("DPDK_HARNESS_LAB_MGMT", "")
MGMT_IF = os.environ.get("DPDK_HARNESS_LAB_MGMT_IF", "")
NIC_ARGS = ("--nic", IGB[0], "--nic", IGB[1])


def lab_profile(tmp_path: pathlib.Path, name: str, **changes) -> pathlib.Path:
    """profiles/lab-igb.toml with ``section__key=value`` changes, written to tmp_path/<name>.toml."""
    return mutated_profile(tmp_path, name, base=LAB_PROFILE, **changes)


def driver_of(pci: str) -> str | None:
    link = pathlib.Path(f"/sys/bus/pci/devices/{pci}/driver")
    return os.path.basename(os.readlink(link)) if link.is_symlink() else None


def netdevs_of(pci: str) -> list[str]:
    """The device's kernel netdevs, nested ones too (virtio: <pci>/virtio0/net/ethX)."""
    from harness.system import pci as pci_mod
    return list(pci_mod.netdevs_of(pci))


def driver_override(pci: str) -> str:
    value = pathlib.Path(f"/sys/bus/pci/devices/{pci}/driver_override").read_text().strip()
    return "" if value == "(null)" else value


def harness_leftovers() -> list[str]:
    """What a harness run may make and must not leave: journals, EAL runtime dirs, hugetlbfs
    mounts, and hugepages beyond what the guest reserved at boot."""
    left = []
    state = pathlib.Path("/run/dpdk-harness")
    if state.is_dir():
        left += [f"journal {p}" for p in state.glob("*.json")]
    left += [f"EAL runtime dir {p}" for p in pathlib.Path("/var/run/dpdk").glob("dh-*")]
    for line in pathlib.Path("/proc/mounts").read_text().splitlines():
        if " hugetlbfs " in line:
            left.append(f"hugetlbfs mount {line.split()[1]}")
    boot = next((w.split("=", 1)[1] for w in pathlib.Path("/proc/cmdline").read_text().split()
                 if w.startswith("hugepages=")), "0")
    now = pathlib.Path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").read_text().strip()
    if now != boot:
        left.append(f"2 MB hugepages: {now}, the guest booted with {boot}")
    return left
