"""PCI devices: address parsing, sysfs inspection, safe binding (sysfs root injectable)."""
from __future__ import annotations

import errno
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HostError, UnsafeDeviceError, UsageError
from harness.system.journal import register_undo, write_sysfs

_PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$")


def normalize_pci(addr: str) -> str:
    """Return the canonical ``dddd:bb:dd.f`` form, or raise a one-line UsageError."""
    m = _PCI_RE.match(str(addr).strip())
    if not m:
        raise UsageError(
            f"{addr!r} is not a PCI address; write it as domain:bus:device.function, "
            "e.g. 0000:03:00.0 (see `lspci -D` for your NICs)"
        )
    dom, bus, dev, fn = m.groups()
    return f"{(dom or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


# ----------------------------------------------------------------------------------------
# Everything below is after dpdk-devbind.py: inspect devices in sysfs, refuse the unsafe
# ones, bind through driver_override, verify by re-reading sysfs, journal every change.
# ----------------------------------------------------------------------------------------

#: Drivers that hand a device to DPDK; a device already on one of them is left alone.
DPDK_DRIVERS = ("vfio-pci", "uio_pci_generic", "igb_uio")

NETWORK_CLASS = 0x02

_CLASS_NAMES = {
    0x00: "unclassified",
    0x01: "mass storage",
    0x02: "network",
    0x03: "display",
    0x04: "multimedia",
    0x05: "memory",
    0x06: "bridge",
    0x07: "communication",
    0x08: "system peripheral",
    0x09: "input",
    0x0A: "docking station",
    0x0B: "processor",
    0x0C: "serial bus",
    0x0D: "wireless",
    0x0E: "intelligent controller",
    0x0F: "satellite communication",
    0x10: "encryption",
    0x11: "signal processing",
    0x12: "processing accelerator",
    0x13: "non-essential instrumentation",
    0x40: "co-processor",
}

#: lookup(netdev) -> (addresses, routes), e.g. (["10.0.0.5/24"], ["default via 10.0.0.1"])
Lookup = Callable[[str], "tuple[list[str], list[str]]"]
#: kernel(path, value): one sysfs write (tests pass a fake kernel)
Kernel = Callable[[Path, str], None]


@dataclass(frozen=True)
class PciDevice:
    address: str  # canonical dddd:bb:dd.f
    class_code: int  # e.g. 0x020000
    vendor: str  # hex without 0x, e.g. "1af4"
    device: str  # hex without 0x, e.g. "1041"
    driver: str | None
    netdevs: tuple[str, ...]
    numa_node: int  # -1 when the platform does not say
    iommu_group: str | None

    @property
    def class_name(self) -> str:
        return _CLASS_NAMES.get(self.class_code >> 16, "unknown class")

    @property
    def is_network(self) -> bool:
        return self.class_code >> 16 == NETWORK_CLASS


def _pci_root(sys_root) -> Path:
    return Path(sys_root) / "bus/pci"


def _dev_dir(addr: str, sys_root) -> Path:
    return _pci_root(sys_root) / "devices" / addr


def _read(path: Path, default: str | None = None) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _link_name(path: Path) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def _current_driver(addr: str, sys_root) -> str | None:
    return _link_name(_dev_dir(addr, sys_root) / "driver")


def _hex_id(text: str | None) -> str:
    text = (text or "").strip().lower()
    return text[2:] if text.startswith("0x") else text


def device_info(addr, sys_root="/sys") -> PciDevice:
    """What sysfs says about one PCI device; a missing device is a one-line UsageError."""
    addr = normalize_pci(addr)
    d = _dev_dir(addr, sys_root)
    if not d.exists():
        raise UsageError(f"--nic {addr}: no such PCI device (see `lspci -D`)")
    try:
        class_code = int(_read(d / "class", "0x0") or "0x0", 16)
    except ValueError:
        class_code = 0
    try:
        numa = int(_read(d / "numa_node", "-1") or "-1")
    except ValueError:
        numa = -1
    return PciDevice(
        address=addr,
        class_code=class_code,
        vendor=_hex_id(_read(d / "vendor")),
        device=_hex_id(_read(d / "device")),
        driver=_link_name(d / "driver"),
        netdevs=netdevs_of(addr, sys_root=sys_root),
        numa_node=numa,
        iommu_group=_link_name(d / "iommu_group"),
    )


def netdevs_of(addr, sys_root="/sys") -> tuple[str, ...]:
    """Kernel network interfaces backed by the device (its own, or nested as virtio's are)."""
    addr = normalize_pci(addr)
    d = _dev_dir(addr, sys_root)
    if not d.exists():
        return ()
    dev_real = Path(os.path.realpath(d))
    names = []
    net = Path(sys_root) / "class/net"
    if not net.is_dir():
        return ()
    for entry in net.iterdir():
        link = entry / "device"
        if not os.path.lexists(link):
            continue  # lo, veth, bridges: no device
        target = Path(os.path.realpath(link))
        if target == dev_real or dev_real in target.parents:
            names.append(entry.name)
    return tuple(sorted(names))


_RT_UNICAST = 1
_RT_TABLE_LOCAL = 255


def _pyroute2_lookup(netdev: str) -> tuple[list[str], list[str]]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=netdev)
        if not idx:
            return [], []
        index = idx[0]
        addresses = [
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index)
        ]
        routes = []
        for family in (2, 10):  # AF_INET, AF_INET6
            for r in ipr.get_routes(family=family, oif=index):
                table = r.get_attr("RTA_TABLE") or r.get("table")
                if table == _RT_TABLE_LOCAL or r["type"] != _RT_UNICAST:
                    continue  # local/broadcast/multicast entries the kernel adds by itself
                dst = r.get_attr("RTA_DST")
                dst = f"{dst}/{r['dst_len']}" if dst else "default"
                gw = r.get_attr("RTA_GATEWAY")
                routes.append(f"{dst} via {gw}" if gw else dst)
        return addresses, routes


def active_reasons(netdev, lookup: Lookup | None = None) -> list[str]:
    """Why a netdev is in use: its addresses and routes (devbind's *Active* rule)."""
    addresses, routes = (lookup or _pyroute2_lookup)(netdev)
    return [f"address {a}" for a in addresses] + [f"route {r}" for r in routes]


def check_safe(dev: PciDevice, lookup: Lookup | None = None) -> None:
    """Refuse a device that is not a NIC, or whose netdev carries addresses or routes."""
    if not dev.is_network:
        raise UnsafeDeviceError(
            f"{dev.address} is not a network controller (class 0x{dev.class_code:06x}, "
            f"{dev.class_name}); the harness only takes NICs: pass a network controller to --nic "
            "(`lspci -D -d ::0200` lists Ethernet controllers)"
        )
    busy = []
    for netdev in dev.netdevs:
        reasons = active_reasons(netdev, lookup=lookup)
        if reasons:
            busy.append(f"{netdev} carries {', '.join(reasons)}")
    if busy:
        which = "its netdev " + "; netdev ".join(busy)
        raise UnsafeDeviceError(
            f"refusing {dev.address}: {which}; take it down and flush it first, "
            "or pick another NIC"
        )


def _modprobe(name: str) -> None:
    res = subprocess.run(["modprobe", "-q", name], capture_output=True, text=True)
    if res.returncode != 0:
        raise OSError(res.returncode, " ".join((res.stderr or "modprobe failed").split()))


def _ensure_driver(name: str, sys_root, modprobe) -> str | None:
    """Load the driver's module if needed; returns why it is unavailable, or None."""
    if (_pci_root(sys_root) / "drivers" / name).is_dir():
        return None
    try:
        (modprobe or _modprobe)(name)
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "strerror", None) or str(err)
        return f"module not loaded (modprobe {name}: {' '.join(str(detail).split())})"
    if not (_pci_root(sys_root) / "drivers" / name).is_dir():
        return f"module {name} loaded but /sys/bus/pci/drivers/{name} did not appear"
    return None


def _read_override(addr: str, sys_root) -> str:
    value = _read(_dev_dir(addr, sys_root) / "driver_override", "") or ""
    return "" if value == "(null)" else value


def _attach(addr: str, driver: str, sys_root, write: Kernel) -> None:
    """driver_override, unbind the current driver, drivers_probe (devbind's modern path)."""
    pci = _pci_root(sys_root)
    write(_dev_dir(addr, sys_root) / "driver_override", driver)
    current = _current_driver(addr, sys_root)
    if current and current != driver:
        write(pci / "drivers" / current / "unbind", addr)
    if _current_driver(addr, sys_root) != driver:
        write(pci / "drivers_probe", addr)


def bind(
    journal,
    addr,
    driver="vfio-pci",
    fallback=("uio_pci_generic",),
    sys_root="/sys",
    modprobe: Callable[[str], None] | None = None,
    lookup: Lookup | None = None,
    kernel: Kernel | None = None,
) -> str:
    """Bind one NIC to a DPDK driver (``driver``, else each ``fallback``); return the driver.

    Checks safety first; records a ``pci_bind`` change before touching sysfs; on a failed
    attempt gives the device back to its original driver before trying the next one.
    """
    dev = device_info(addr, sys_root=sys_root)
    check_safe(dev, lookup=lookup)
    if dev.driver in DPDK_DRIVERS:
        return dev.driver
    write = kernel or write_sysfs
    data = {
        "pci": dev.address,
        "original_driver": dev.driver,
        "previous_override": _read_override(dev.address, sys_root),
        "sys_root": str(sys_root),
    }
    change = None
    failures: list[str] = []
    tried: list[str] = []
    for name in (driver, *fallback):
        if not name or name in tried:
            continue
        tried.append(name)
        why = _ensure_driver(name, sys_root, modprobe)
        if why:
            failures.append(f"{name}: {why}")
            continue
        if change is None:
            change = journal.record("pci_bind", **data)
        try:
            _attach(dev.address, name, sys_root, write)
        except OSError as err:
            untouched = (
                _current_driver(dev.address, sys_root) == dev.driver
                and _read_override(dev.address, sys_root) == data["previous_override"]
            )
            if untouched and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                journal.forget(change)
                raise HostError(
                    f"cannot write {err.filename or 'sysfs'} ({err.strerror}); run as root, "
                    f"or bind {dev.address} yourself: `dpdk-devbind.py -b {name} {dev.address}`"
                ) from err
            failures.append(f"{name}: {err.strerror or err}")
        else:
            now = _current_driver(dev.address, sys_root)
            if now == name:
                return name
            failures.append(f"{name}: probe did not take it (now on {now or 'no driver'})")
        try:
            unbind_restore(data, sys_root=sys_root, kernel=kernel)
        except HostError as err:
            raise HostError(
                f"could not bind {dev.address} ({'; '.join(failures)}) and could not give it "
                f"back: {err}; the change stays in the journal for `python -m harness restore`"
            ) from err
    if change is not None:
        journal.forget(change)
    back = dev.driver or "no driver"
    raise HostError(
        f"could not bind {dev.address} to {' or '.join(tried)} ({'; '.join(failures)}); "
        f"it is back on {back}. For vfio-pci enable the IOMMU (intel_iommu=on or amd_iommu=on) "
        "or vfio's enable_unsafe_noiommu_mode, or load uio_pci_generic"
    )


def unbind_restore(data: dict, sys_root="/sys", kernel: Kernel | None = None) -> None:
    """The undo of ``pci_bind``: give the device back to its original driver and override.

    Idempotent. Each step is tried even if an earlier one failed; the verdict comes from
    re-reading ``<dev>/driver``, and a device not back where it started is a one-line HostError.
    """
    write = kernel or write_sysfs
    sys_root = data.get("sys_root", sys_root)
    addr = normalize_pci(data["pci"])
    original = data.get("original_driver") or None
    d = _dev_dir(addr, sys_root)
    pci = _pci_root(sys_root)
    if not d.exists():
        raise HostError(
            f"{addr} is gone from {pci}/devices; rescan the bus "
            "(`echo 1 > /sys/bus/pci/rescan`) and bind it back by hand"
        )
    problems: list[str] = []

    def step(path: Path, value: str) -> None:
        try:
            write(path, value)
        except PermissionError as err:
            raise HostError(
                f"cannot write {path} to give {addr} back to {original or 'no driver'} "
                f"({err.strerror or 'permission denied'}); run `python -m harness restore` as root"
            ) from err
        except OSError as err:
            problems.append(f"{path.name}: {err.strerror or err}")

    current = _current_driver(addr, sys_root)
    if current and current != original:
        step(pci / "drivers" / current / "unbind", addr)
    step(d / "driver_override", data.get("previous_override") or "")
    if original and _current_driver(addr, sys_root) != original:
        step(pci / "drivers_probe", addr)
        if _current_driver(addr, sys_root) is None and (pci / "drivers" / original).is_dir():
            step(pci / "drivers" / original / "bind", addr)

    now = _current_driver(addr, sys_root)
    if now != original:
        cmds = []
        if now:
            cmds.append(f"`echo {addr} > /sys/bus/pci/drivers/{now}/unbind`")
        if original:
            cmds.append(f"`echo {addr} > /sys/bus/pci/drivers/{original}/bind`")
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise HostError(
            f"{addr} should be back on {original or 'no driver'} but is on "
            f"{now or 'no driver'}{detail}; run {' then '.join(cmds)}"
        )


def _pci_scope(data: dict, sc) -> str | None:
    if str(data.get("sys_root", "")) != str(sc.sys_root):
        return f"names sysfs root {str(data.get('sys_root'))[:80]!r}, not {sc.sys_root}"
    try:
        normalize_pci(str(data.get("pci", "")))
    except Exception:  # noqa: BLE001 - any malformed address is out of scope
        return f"names {str(data.get('pci'))[:40]!r}, not a PCI address"
    return None


@register_undo("pci_bind", scope=_pci_scope)
def _undo_pci_bind(data: dict) -> None:
    unbind_restore(data)
