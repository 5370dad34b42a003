"""Builders for fabricated /sys and /proc trees in tmp_path, and a fake kernel.

Sysfs attributes in a fake tree are plain files, so writing ``drivers_probe`` binds nothing
by itself. :class:`FakeHost.kernel` is the stand-in: pass it as the ``kernel=`` write hook
and it does what the kernel would (bind/unbind/override/probe, grant hugepages up to a
limit), recording every write in :attr:`FakeHost.writes`.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class FakeHost:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.sys_root = self.root / "sys"
        self.proc_root = self.root / "proc"
        self.sys_root.mkdir(parents=True, exist_ok=True)
        self.proc_root.mkdir(parents=True, exist_ok=True)
        self.writes: list[tuple[str, str]] = []  # (path relative to root, value)
        self.hugepage_limit: dict[Path, int] = {}  # nr_hugepages path -> most the kernel grants
        self.denied: set[Path] = set()  # writes raise PermissionError
        self.refuse: set[str] = set()  # drivers whose probe fails silently (no IOMMU, ...)
        self.native: dict[str, str] = {}  # pci address -> driver matching its id table
        self.netdev: dict[str, tuple[str, bool]] = {}  # pci address -> (netdev, nested)
        self.on_write = None  # optional callable(path, value), runs before each write

    # -- builders ---------------------------------------------------------------------------

    @property
    def pci(self) -> Path:
        return self.sys_root / "bus/pci"

    def add_hugepages(self, size_kb: int, total: int, free: int | None = None,
                      node: int | None = None, limit: int | None = None) -> Path:
        if node is None:
            d = self.sys_root / "kernel/mm/hugepages" / f"hugepages-{size_kb}kB"
        else:
            d = self.sys_root / f"devices/system/node/node{node}/hugepages/hugepages-{size_kb}kB"
        d.mkdir(parents=True, exist_ok=True)
        (d / "nr_hugepages").write_text(f"{total}\n")
        (d / "free_hugepages").write_text(f"{total if free is None else free}\n")
        if limit is not None:
            self.hugepage_limit[d / "nr_hugepages"] = limit
        return d

    def set_mounts(self, *lines: str) -> None:
        (self.proc_root / "mounts").write_text("".join(line + "\n" for line in lines))

    def write_proc(self, rel: str, text: str) -> None:
        p = self.proc_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def write_sys(self, rel: str, text: str) -> None:
        p = self.sys_root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def add_driver(self, name: str) -> Path:
        d = self.pci / "drivers" / name
        d.mkdir(parents=True, exist_ok=True)
        for f in ("bind", "unbind", "new_id", "remove_id"):
            (d / f).touch()
        (self.pci / "drivers_probe").touch()
        return d

    def add_pci(self, addr: str, class_code: int = 0x020000, vendor: str = "0x1af4",
                device: str = "0x1041", driver: str | None = None, netdev: str | None = None,
                nested: bool = False, numa_node: int = 0, iommu_group: str | None = None) -> Path:
        """A PCI device at ``addr``; ``driver`` is both its current and its native driver.

        ``nested`` puts the netdev under ``<dev>/virtio0/net/`` as virtio-pci does.
        """
        dev = self.sys_root / "devices/pci0000:00" / addr
        dev.mkdir(parents=True)
        (dev / "class").write_text(f"0x{class_code:06x}\n")
        (dev / "vendor").write_text(vendor + "\n")
        (dev / "device").write_text(device + "\n")
        (dev / "numa_node").write_text(f"{numa_node}\n")
        (dev / "driver_override").write_text("(null)\n")
        (self.pci / "devices").mkdir(parents=True, exist_ok=True)
        (self.pci / "drivers_probe").touch()
        os.symlink(dev, self.pci / "devices" / addr)
        if iommu_group is not None:
            g = self.sys_root / "kernel/iommu_groups" / iommu_group
            g.mkdir(parents=True, exist_ok=True)
            os.symlink(g, dev / "iommu_group")
        if netdev:
            self.netdev[addr] = (netdev, nested)
        if driver:
            self.native[addr] = driver
            self.add_driver(driver)
            self._bind(addr, driver)
        return dev

    # -- reading back -------------------------------------------------------------------------

    def dev_dir(self, addr: str) -> Path:
        return self.pci / "devices" / addr

    def driver_of(self, addr: str) -> str | None:
        link = self.dev_dir(addr) / "driver"
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def override_of(self, addr: str) -> str:
        return (self.dev_dir(addr) / "driver_override").read_text().strip()

    # -- the fake kernel ----------------------------------------------------------------------

    def _bind(self, addr: str, driver: str) -> None:
        dev = self.dev_dir(addr)
        os.symlink(self.pci / "drivers" / driver, dev / "driver")
        os.symlink(dev, self.pci / "drivers" / driver / addr)
        if addr in self.netdev and self.native.get(addr) == driver:
            name, nested = self.netdev[addr]
            parent = dev / "virtio0" if nested else dev
            (parent / "net" / name).mkdir(parents=True, exist_ok=True)
            os.symlink(parent, parent / "net" / name / "device")
            (self.sys_root / "class/net").mkdir(parents=True, exist_ok=True)
            os.symlink(parent / "net" / name, self.sys_root / "class/net" / name)

    def _unbind(self, addr: str) -> None:
        dev = self.dev_dir(addr)
        driver = self.driver_of(addr)
        (dev / "driver").unlink()
        (self.pci / "drivers" / driver / addr).unlink()
        if addr in self.netdev:
            name, nested = self.netdev[addr]
            link = self.sys_root / "class/net" / name
            if os.path.islink(link):
                link.unlink()
            shutil.rmtree(dev / "virtio0" if nested else dev / "net", ignore_errors=True)

    def _probe(self, addr: str) -> None:
        if self.driver_of(addr):
            return
        override = self.override_of(addr)
        driver = override if override != "(null)" else self.native.get(addr)
        if driver and (self.pci / "drivers" / driver).is_dir() and driver not in self.refuse:
            self._bind(addr, driver)

    def kernel(self, path, value: str) -> None:
        """The ``kernel=`` write hook: one sysfs write, with the kernel's side effects."""
        path = Path(path)
        if self.on_write:
            self.on_write(path, value)
        self.writes.append((str(path.relative_to(self.root)), value))
        if path in self.denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        text = value.strip()
        if path.name == "nr_hugepages":
            old = int(path.read_text())
            granted = min(int(text), self.hugepage_limit.get(path, 1 << 30))
            free_path = path.parent / "free_hugepages"
            free = max(0, int(free_path.read_text()) + granted - old)
            path.write_text(f"{granted}\n")
            free_path.write_text(f"{free}\n")
        elif path.name == "driver_override":
            path.write_text((text or "(null)") + "\n")
        elif path == self.pci / "drivers_probe":
            self._probe(text)
        elif path.parent.parent == self.pci / "drivers" and path.name == "unbind":
            if self.driver_of(text) != path.parent.name:
                raise OSError(errno.ENODEV, "No such device", str(path))
            self._unbind(text)
        elif path.parent.parent == self.pci / "drivers" and path.name == "bind":
            if self.driver_of(text):
                raise OSError(errno.EBUSY, "Device or resource busy", str(path))
            if path.parent.name in self.refuse:
                raise OSError(errno.ENODEV, "No such device", str(path))
            self._bind(text, path.parent.name)
        else:
            path.write_text(value)

    def modprobe(self, name: str) -> None:
        """The ``modprobe=`` hook: loading a module makes its driver directory appear."""
        self.writes.append(("modprobe", name))
        self.add_driver(name)
