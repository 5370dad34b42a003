"""PCI inspection, the safety rules and binding, on a fabricated sysfs with a fake kernel."""
from __future__ import annotations

import json

import pytest
from fakesys import FakeHost

from harness.errors import HostError, UnsafeDeviceError, UsageError
from harness.system import pci
from harness.system.journal import Journal
from harness.system.pci import (
    active_reasons,
    bind,
    check_safe,
    device_info,
    netdevs_of,
    normalize_pci,
    unbind_restore,
)

NIC = "0000:03:00.0"  # a clean NIC on virtio-pci, netdev nested like virtio's
BUSY = "0000:00:03.0"  # the NIC carrying the host's network
DISK = "0000:00:02.0"  # NVMe


def quiet(netdev):
    return [], []


def busy_lookup(netdev):
    if netdev == "eth0":
        return ["10.0.0.5/24"], ["default via 10.0.0.1"]
    return [], []


@pytest.fixture
def host(tmp_path):
    h = FakeHost(tmp_path / "host")
    h.add_pci(DISK, class_code=0x010802, vendor="0x1b36", device="0x0010", driver="nvme")
    h.add_pci(BUSY, driver="virtio-pci", netdev="eth0", nested=True, numa_node=-1)
    h.add_pci(NIC, driver="virtio-pci", netdev="eth1", nested=True, numa_node=1,
              iommu_group="7")
    h.add_pci("0000:04:00.0", vendor="0x8086", device="0x1572", driver="i40e", netdev="ens4")
    h.add_driver("vfio-pci")
    return h


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "state", run_id="run-test")


# -- inspection -----------------------------------------------------------------------------


def test_normalize_and_malformed_address():
    assert normalize_pci("03:00.0") == NIC
    with pytest.raises(UsageError) as exc:
        device_info("03:00", sys_root="/nonexistent")
    assert "\n" not in str(exc.value) and "lspci -D" in str(exc.value)


def test_missing_device_is_a_usage_error(host):
    with pytest.raises(UsageError) as exc:
        device_info("0000:0a:00.0", sys_root=host.sys_root)
    assert str(exc.value) == "--nic 0000:0a:00.0: no such PCI device (see `lspci -D`)"


def test_device_info(host):
    assert device_info("03:00.0", sys_root=host.sys_root) == pci.PciDevice(
        address=NIC, class_code=0x020000, vendor="1af4", device="1041", driver="virtio-pci",
        netdevs=("eth1",), numa_node=1, iommu_group="7",
    )
    disk = device_info(DISK, sys_root=host.sys_root)
    assert (disk.class_code, disk.driver, disk.netdevs, disk.iommu_group) == (
        0x010802, "nvme", (), None)


def test_netdevs_resolved_directly_and_nested(host):
    assert netdevs_of("0000:04:00.0", sys_root=host.sys_root) == ("ens4",)  # <pci>/net/ens4
    assert netdevs_of(BUSY, sys_root=host.sys_root) == ("eth0",)  # <pci>/virtio0/net/eth0
    assert netdevs_of(DISK, sys_root=host.sys_root) == ()


def test_active_reasons_formats_addresses_and_routes():
    assert active_reasons("eth0", lookup=busy_lookup) == [
        "address 10.0.0.5/24", "route default via 10.0.0.1"]
    assert active_reasons("eth1", lookup=busy_lookup) == []


# -- safety ---------------------------------------------------------------------------------


def test_storage_controller_is_refused(host):
    with pytest.raises(UnsafeDeviceError) as exc:
        check_safe(device_info(DISK, sys_root=host.sys_root), lookup=quiet)
    assert str(exc.value) == (
        "0000:00:02.0 is not a network controller (class 0x010802, mass storage); "
        "the harness only takes NICs: pass a network controller to --nic (`lspci -D -d ::0200` lists Ethernet controllers)")


def test_nested_netdev_with_address_or_route_is_refused(host):
    dev = device_info(BUSY, sys_root=host.sys_root)
    with pytest.raises(UnsafeDeviceError) as exc:
        check_safe(dev, lookup=busy_lookup)
    assert str(exc.value) == (
        "refusing 0000:00:03.0: its netdev eth0 carries address 10.0.0.5/24, "
        "route default via 10.0.0.1; take it down and flush it first, or pick another NIC")
    # a route alone is enough
    with pytest.raises(UnsafeDeviceError, match="eth0 carries route 10.9.0.0/16"):
        check_safe(dev, lookup=lambda n: ([], ["10.9.0.0/16"]))


def test_bind_refuses_before_touching_anything(host, journal):
    for addr in (BUSY, DISK):
        with pytest.raises(UnsafeDeviceError):
            bind(journal, addr, sys_root=host.sys_root, lookup=busy_lookup,
                 kernel=host.kernel, modprobe=host.modprobe)
    assert host.writes == [] and not journal.path.exists()
    assert host.driver_of(BUSY) == "virtio-pci" and host.driver_of(DISK) == "nvme"


# -- binding --------------------------------------------------------------------------------


def test_bind_clean_nic_via_driver_override_then_restore(host, journal):
    seen = []
    host.on_write = lambda p, v: seen.append(json.loads(journal.path.read_text())["changes"])

    assert bind(journal, "03:00.0", sys_root=host.sys_root, lookup=busy_lookup,
                kernel=host.kernel, modprobe=host.modprobe) == "vfio-pci"

    d = f"sys/bus/pci/devices/{NIC}"
    assert host.writes == [
        (f"{d}/driver_override", "vfio-pci"),
        ("sys/bus/pci/drivers/virtio-pci/unbind", NIC),
        ("sys/bus/pci/drivers_probe", NIC),
    ]
    assert host.driver_of(NIC) == "vfio-pci"
    assert netdevs_of(NIC, sys_root=host.sys_root) == ()  # eth1 went with virtio-pci
    # the record was on disk before the first write
    (record,) = seen[0]
    assert record["kind"] == "pci_bind"
    assert record["data"] == {"pci": NIC, "original_driver": "virtio-pci",
                              "previous_override": "", "sys_root": str(host.sys_root)}

    unbind_restore(record["data"], kernel=host.kernel)
    assert host.driver_of(NIC) == "virtio-pci"
    assert host.override_of(NIC) == "(null)"
    assert netdevs_of(NIC, sys_root=host.sys_root) == ("eth1",)
    # idempotent: a second undo writes only the (unchanged) override
    unbind_restore(record["data"], kernel=host.kernel)
    assert host.driver_of(NIC) == "virtio-pci"


def test_journal_undo_gives_the_nic_back(host, journal, monkeypatch):
    bind(journal, NIC, sys_root=host.sys_root, lookup=quiet, kernel=host.kernel,
         modprobe=host.modprobe)
    monkeypatch.setattr(pci, "write_sysfs", host.kernel)  # the registered undo uses the default
    assert journal.undo_all() == []
    assert host.driver_of(NIC) == "virtio-pci" and not journal.path.exists()


def test_already_on_a_dpdk_driver_is_left_alone(host, journal):
    bind(journal, NIC, sys_root=host.sys_root, lookup=quiet, kernel=host.kernel)
    host.writes.clear()
    assert bind(Journal(journal.state_dir), NIC, driver="uio_pci_generic",
                sys_root=host.sys_root, lookup=quiet, kernel=host.kernel) == "vfio-pci"
    assert host.writes == []


def test_failed_probe_rebinds_the_original_then_uses_the_fallback(host, journal):
    host.refuse.add("vfio-pci")  # e.g. no IOMMU
    assert bind(journal, NIC, sys_root=host.sys_root, lookup=quiet, kernel=host.kernel,
                modprobe=host.modprobe) == "uio_pci_generic"
    assert ("modprobe", "uio_pci_generic") in host.writes
    values = [(p.rsplit("/", 2)[-2:], v) for p, v in host.writes if p != "modprobe"]
    assert values == [
        ([NIC, "driver_override"], "vfio-pci"),
        (["virtio-pci", "unbind"], NIC),
        (["pci", "drivers_probe"], NIC),
        # vfio-pci did not take it: override cleared, virtio-pci probed back
        ([NIC, "driver_override"], ""),
        (["pci", "drivers_probe"], NIC),
        ([NIC, "driver_override"], "uio_pci_generic"),
        (["virtio-pci", "unbind"], NIC),
        (["pci", "drivers_probe"], NIC),
    ]
    assert host.driver_of(NIC) == "uio_pci_generic"
    assert len(journal) == 1


def test_all_drivers_failing_leaves_the_nic_on_its_driver(host, journal):
    host.refuse.add("vfio-pci")
    with pytest.raises(HostError) as exc:
        bind(journal, NIC, fallback=("uio_pci_generic",), sys_root=host.sys_root, lookup=quiet,
             kernel=host.kernel, modprobe=lambda name: (_ for _ in ()).throw(
                 OSError(1, f"modprobe: FATAL: Module {name} not found")))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"could not bind {NIC} to vfio-pci or uio_pci_generic (vfio-pci: probe")
    assert "uio_pci_generic: module not loaded" in msg and "it is back on virtio-pci" in msg
    assert host.driver_of(NIC) == "virtio-pci" and host.override_of(NIC) == "(null)"
    assert len(journal) == 0 and not journal.path.exists()


def test_bind_without_permission_says_run_as_root(host, journal):
    host.denied.add(host.dev_dir(NIC) / "driver_override")
    with pytest.raises(HostError) as exc:
        bind(journal, NIC, sys_root=host.sys_root, lookup=quiet, kernel=host.kernel)
    msg = str(exc.value)
    assert "\n" not in msg and "run as root" in msg
    assert f"`dpdk-devbind.py -b vfio-pci {NIC}`" in msg
    assert host.driver_of(NIC) == "virtio-pci" and len(journal) == 0


def test_restore_verifies_and_says_how_to_fix(host):
    data = {"pci": NIC, "original_driver": "virtio-pci", "previous_override": "",
            "sys_root": str(host.sys_root)}
    host.refuse.add("virtio-pci")  # the original driver will not take it back
    host.kernel(host.pci / "drivers/virtio-pci/unbind", NIC)  # as if bound elsewhere, then lost
    with pytest.raises(HostError) as exc:
        unbind_restore(data, kernel=host.kernel)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{NIC} should be back on virtio-pci but is on no driver")
    assert f"`echo {NIC} > /sys/bus/pci/drivers/virtio-pci/bind`" in msg


def test_restore_permission_error_is_one_line(host):
    data = {"pci": NIC, "original_driver": "virtio-pci", "previous_override": "",
            "sys_root": str(host.sys_root)}
    host.denied.add(host.dev_dir(NIC) / "driver_override")
    with pytest.raises(HostError, match="run `python -m harness restore` as root"):
        unbind_restore(data, kernel=host.kernel)
