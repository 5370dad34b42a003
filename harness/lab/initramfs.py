"""The lab guest's initramfs, as bytes: busybox, the NIC and 9p modules, and an /init that boots
the host's / read-only under a tmpfs overlay.

Pure, like :mod:`harness.lab.model`: ``harness/lab/run.py`` writes what this module builds.
"""
from __future__ import annotations

from harness.lab.model import OUT_MOUNT


def cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A ``newc`` cpio archive (what the kernel unpacks as an initramfs).

    Each entry is (path without leading /, mode including the file type bits, data); a symlink's
    data is its target.
    """
    out = bytearray()

    def add(name: str, mode: int, data: bytes, ino: int) -> None:
        nb = name.encode() + b"\0"
        hdr = b"070701" + b"".join(f"{v:08X}".encode() for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.extend(hdr + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries, start=1):
        add(name, mode, data, ino)
    add("TRAILER!!!", 0, b"", 0)
    return bytes(out)


S_IFDIR, S_IFREG, S_IFLNK = 0o040000, 0o100000, 0o120000


def initramfs_entries(busybox: bytes, modules: dict[str, bytes]) -> list[tuple[str, int, bytes]]:
    """The initramfs: busybox, the modules (named in load order), and /init."""
    entries = [(d, S_IFDIR | 0o755, b"") for d in ("bin", "dev", "proc", "sys", "mnt", "lib", "lib/modules")]
    entries.append(("bin/busybox", S_IFREG | 0o755, busybox))
    entries.append(("bin/sh", S_IFLNK | 0o777, b"busybox"))
    names = []
    for i, (name, data) in enumerate(modules.items()):
        fname = f"{i:02d}-{name.rsplit('/', 1)[-1]}"
        names.append(fname)
        entries.append((f"lib/modules/{fname}", S_IFREG | 0o644, data))
    entries.append(("init", S_IFREG | 0o755, init_script().encode()))
    return entries


def init_script() -> str:
    """The initramfs /init: mount the host's / read-only under a tmpfs overlay, switch_root to it.

    The writable ``out`` share is mounted at :data:`OUT_MOUNT` in the new root; the kernel
    command line's ``dh.script`` names the guest script there. The modules are loaded in the
    order their file names give.
    """
    return r"""#!/bin/sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "dh-lab: initramfs up"
for m in /lib/modules/*.ko; do insmod "$m" || echo "dh-lab: insmod $m failed"; done
mkdir -p /mnt/lower /mnt/rw /mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro root /mnt/lower || exec sh
mount -t tmpfs -o size=512m rw /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /mnt/root || exec sh
mkdir -p /mnt/root@OUT@
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /mnt/root@OUT@ || exec sh
script=$(sed -n 's/.*dh\.script=\([^ ]*\).*/\1/p' /proc/cmdline)
mount --move /dev /mnt/root/dev
umount /proc /sys
exec switch_root /mnt/root /bin/sh "$script"
""".replace("@OUT@", OUT_MOUNT)
