"""The emulated-NIC lab, as data: packages, cache layout, the guest's devices, QEMU's command
line and the guest's scripts (the initramfs is :mod:`harness.lab.initramfs`), and the verdict on a finished run.

Pure: no subprocess, no file system writes, no compiled probe. ``harness/lab/run.py`` does the
fetching, building and booting with what this module computes, and ``tests/unit/test_lab.py``
checks it without root or QEMU.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

# ------------------------------------------------------------------------------------- packages

#: QEMU >= 8.0 has the ``igb`` device; bookworm has 7.2, bookworm-backports 10.x.
QEMU_MIN = (8, 0)
QEMU_PACKAGES = ("qemu-system-x86", "qemu-system-common", "qemu-system-data", "seabios")
#: busybox for the initramfs; kmod for depmod on the host and modprobe in the guest.
TOOL_PACKAGES = ("busybox-static", "kmod")
#: Debian's meta package whose dependency names the current kernel (linux-image-6.1.0-N-amd64).
KERNEL_META = "linux-image-amd64"
#: Packages of a dependency closure the lab never needs (the kernel's install-time helpers).
NOT_NEEDED = frozenset({"initramfs-tools", "initramfs-tools-core", "klibc-utils", "libklibc", "linux-base", "cpio"})


def backports_suite(codename: str) -> str:
    return f"{codename}-backports"


def parse_os_release(text: str) -> str:
    """VERSION_CODENAME of /etc/os-release (e.g. bookworm); '' when absent."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME":
            return value.strip().strip('"')
    return ""


def apt_mirrors(sources: list[str], codename: str) -> tuple[str | None, str | None]:
    """The Debian archive and security URIs the host's own apt sources name for ``codename``.

    ``sources`` are the texts of sources.list files (one-line ``deb URI SUITE COMP``) and of
    ``.sources`` files (deb822 stanzas with URIs: and Suites:).
    """
    archive = security = None
    for text in sources:
        entries: list[tuple[list[str], list[str]]] = []
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("deb "):
                words = [w for w in re.sub(r"\[[^]]*\]", "", line[4:]).split()]
                if len(words) >= 2:
                    entries.append(([words[0]], [words[1]]))
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line.startswith((" ", "\t")):
                    continue
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            if "deb" in fields.get("types", "").split() and "uris" in fields:
                entries.append((fields["uris"].split(), fields.get("suites", "").split()))
        for uris, suites in entries:
            for uri in uris:
                uri = uri.rstrip("/")
                if archive is None and codename in suites:
                    archive = uri
                if security is None and f"{codename}-security" in suites:
                    security = uri
    return archive, security


def lab_sources_list(archive: str, security: str | None, codename: str,
                     keyring: str = "/usr/share/keyrings/debian-archive-keyring.gpg") -> str:
    """The lab's private sources.list: the host's mirrors, plus backports for QEMU >= 8."""
    opt = f"[signed-by={keyring}] "
    lines = [f"deb {opt}{archive} {codename} main",
             f"deb {opt}{archive} {codename}-updates main",
             f"deb {opt}{archive} {backports_suite(codename)} main"]
    if security:
        lines.append(f"deb {opt}{security} {codename}-security main")
    return "\n".join(lines) + "\n"


def parse_simulated_installs(text: str) -> list[str]:
    """``pkg=version`` for each package ``apt-get -s install`` would newly install.

    Upgrades of packages the host already has (``Inst name [old] (new ...)``) are left out:
    the host's own copy serves the unpacked QEMU, and the lab never replaces it.
    """
    out = []
    for line in text.splitlines():
        m = re.match(r"^Inst (\S+) (\[[^]]*\] )?\((\S+) ", line)
        if m and not m.group(2) and m.group(1) not in NOT_NEEDED:
            out.append(f"{m.group(1)}={m.group(3)}")
    return out


def kernel_package(depends_text: str) -> str | None:
    """The unsigned kernel image named by ``apt-cache depends linux-image-amd64``."""
    m = re.search(r"Depends: (linux-image-\d\S*-amd64)(?:-unsigned)?\b", depends_text)
    return f"{m.group(1)}-unsigned" if m else None


def qemu_version(text: str) -> tuple[int, ...]:
    """(10, 0, 2) from ``QEMU emulator version 10.0.2 (Debian ...)``; () when not found."""
    m = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups() if x is not None) if m else ()


# ------------------------------------------------------------------------------- cache layout

@dataclass(frozen=True)
class Cache:
    """Where the lab keeps what it fetched and built; a second run reuses all of it.

    ``root`` is one tree every package is unpacked into (QEMU, its libraries, the kernel and
    its modules, busybox, kmod); nothing is installed on the host.
    """
    base: Path

    @property
    def apt(self) -> Path:
        return self.base / "apt"

    @property
    def sources_list(self) -> Path:
        return self.apt / "sources.list"

    @property
    def lists(self) -> Path:
        return self.apt / "lists"

    @property
    def archives(self) -> Path:
        return self.apt / "archives"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def manifest(self) -> Path:
        """``pkg=version`` lines of what is unpacked in ``root``; written last, so its presence
        means the tree is complete."""
        return self.base / "manifest"

    @property
    def bin(self) -> Path:
        """modprobe, depmod and friends as links to the unpacked kmod (the guest's PATH)."""
        return self.base / "bin"

    def initramfs(self, kver: str) -> Path:
        return self.base / f"initramfs-{kver}.cpio"

    def kernel(self, kver: str) -> Path:
        return self.root / "boot" / f"vmlinuz-{kver}"

    def modules(self, kver: str) -> Path:
        return self.root / "lib" / "modules" / kver

    @property
    def qemu(self) -> Path:
        return self.root / "usr/bin/qemu-system-x86_64"

    @property
    def firmware_dirs(self) -> tuple[Path, ...]:
        return (self.root / "usr/share/seabios", self.root / "usr/share/qemu")

    @property
    def library_path(self) -> str:
        return ":".join(str(self.root / d) for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    e: Mapping[str, str] = os.environ if env is None else env
    if e.get("DPDK_HARNESS_LAB_CACHE"):
        return Path(e["DPDK_HARNESS_LAB_CACHE"])
    base = e.get("XDG_CACHE_HOME") or os.path.join(e.get("HOME") or "/root", ".cache")
    return Path(base) / "dpdk-harness" / "lab"


def kernel_versions(module_dir_names: list[str]) -> list[str]:
    return sorted(n for n in module_dir_names if re.match(r"^\d+\.\d+\.\d+-\d+-amd64$", n))


# ------------------------------------------------------------------------------ guest devices

@dataclass(frozen=True)
class GuestNic:
    """One NIC of the guest; the guest finds its PCI address through the fixed MAC."""
    role: str           # mgmt | igb0 | igb1 | e1000e
    device: str         # QEMU device model
    mac: str
    netdev: str         # QEMU -netdev option value
    root_port: int | None = None   # own pcie-root-port (two igb on the root bus clash over VF slots)
    extra: str = ""

    @property
    def env(self) -> str:
        return f"DPDK_HARNESS_LAB_{self.role.upper()}"


#: The guest's devices. The two igb ports are joined by a hub: a cable, and nothing else on it.
#: The management NIC reaches nothing (restrict=on) and is given an address and a route inside.
GUEST_NICS = (
    GuestNic("mgmt", "virtio-net-pci", "52:54:00:dd:00:10", "user,id=mgmt,restrict=on,net=198.19.0.0/24"),
    GuestNic("igb0", "igb", "52:54:00:dd:00:01", "hubport,id=cable0,hubid=1", root_port=1),
    GuestNic("igb1", "igb", "52:54:00:dd:00:02", "hubport,id=cable1,hubid=1", root_port=2),
    GuestNic("e1000e", "e1000e", "52:54:00:dd:00:03", "hubport,id=lonely,hubid=2", root_port=3),
)
MGMT_ADDRESS = "198.19.0.15/24"
MGMT_GATEWAY = "198.19.0.2"

#: Modules the initramfs loads (with their dependencies) to mount the 9p root and the overlay.
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
#: Modules the guest loads after switch_root: the NICs' kernel drivers (no udev loads them here).
GUEST_MODULES = ("igb", "e1000e", "virtio_net")

#: Where the guest sees the host's reports/lab (the writable ``out`` share), mounted by /init.
OUT_MOUNT = "/mnt/dh-lab"

GUEST_MEMORY = "2G"
GUEST_CPUS = 2
#: An inner pytest run still going after this is aborted (SIGABRT: faulthandler prints where it hung).
INNER_TIMEOUT_S = 900
#: 2 MB pages the guest kernel reserves at boot: reserving them later is slow under TCG.
GUEST_HUGEPAGES = 192


def _netdev_id(nic: GuestNic) -> str:
    m = re.search(r"id=([^,]+)", nic.netdev)
    if m is None:
        raise ValueError(f"{nic.role}: -netdev {nic.netdev} names no id")
    return m.group(1)


def qemu_argv(cache: Cache, kver: str, *, accel: str, share_root: str, out_dir: str, script: str) -> list[str]:
    """QEMU's command line: q35 with an IOMMU (vfio-pci in the guest), no disk, no display.

    The host's / is the guest's read-only root over 9p; ``out_dir`` is the one writable share,
    where the guest script, the reports and the console log live.
    """
    argv = [str(cache.qemu)]
    for d in cache.firmware_dirs:
        argv += ["-L", str(d)]
    if accel == "kvm":
        argv += ["-machine", "q35,kernel-irqchip=split", "-accel", "kvm", "-cpu", "max"]
    else:
        argv += ["-machine", "q35", "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max"]
    argv += ["-smp", str(GUEST_CPUS), "-m", GUEST_MEMORY,
             "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
             "-serial", "stdio", "-monitor", "none",
             "-device", "intel-iommu,intremap=on",
             "-kernel", str(cache.kernel(kver)), "-initrd", str(cache.initramfs(kver)),
             "-append", kernel_cmdline(script),
             "-fsdev", f"local,id=root,path={share_root},security_model=none,readonly=on,multidevs=remap",
             "-device", "virtio-9p-pci,fsdev=root,mount_tag=root",
             "-fsdev", f"local,id=out,path={out_dir},security_model=none,multidevs=remap",
             "-device", "virtio-9p-pci,fsdev=out,mount_tag=out"]
    for nic in GUEST_NICS:
        bus = ""
        if nic.root_port is not None:
            rp = f"rp{nic.root_port}"
            argv += ["-device", f"pcie-root-port,id={rp},chassis={nic.root_port},addr=1{nic.root_port}.0"]
            bus = f",bus={rp}"
        argv += ["-netdev", nic.netdev,
                 "-device", f"{nic.device},netdev={_netdev_id(nic)},mac={nic.mac},romfile={bus}{nic.extra}"]
    return argv


def kernel_cmdline(script: str) -> str:
    words = ["console=ttyS0", "panic=-1", "intel_iommu=on", "iommu=pt", f"hugepages={GUEST_HUGEPAGES}",
             "loglevel=4", "tsc=reliable", f"dh.script={script}"]
    return " ".join(words)


def module_closure(modules_dep: str, wanted: tuple[str, ...] | list[str]) -> list[str]:
    """Module files (paths relative to /lib/modules/<kver>) for ``wanted``, dependencies first.

    ``modules_dep`` is depmod's modules.dep; module names match with - and _ interchangeable.
    A wanted module that is not a loadable module (built in, or absent) is a KeyError naming it.
    """
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.splitlines():
        path, sep, rest = line.partition(":")
        if not sep:
            continue
        deps[path] = rest.split()
        by_name[_mod_name(path)] = path
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in wanted:
        key = name.replace("-", "_")
        if key not in by_name:
            raise KeyError(f"module {name} is not in modules.dep")
        visit(by_name[key])
    return order


def _mod_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base).replace("-", "_")


# ------------------------------------------------------------------------------ guest script

#: Suites the lab leaves out: rates. Under TCG on shared CPUs a zero-loss rate, the generator's
#: accuracy and latency percentiles measure how much CPU the host lends the guest, not the NIC path
#: (one vCPU stall overflows an rx ring); testpmd over memif involves no NIC. They run on every
#: vdev CI run and on hardware.
NOT_IN_LAB = ("suites/throughput",)


@dataclass(frozen=True)
class InnerRun:
    """One pytest run inside the guest: its name (reports/lab/<name>/ unless ``top``), arguments."""
    name: str
    args: tuple[str, ...]
    top: bool = False       # reports straight into reports/lab (the qualification run)


def inner_runs(profile: str, extra: tuple[str, ...] = ()) -> list[InnerRun]:
    """What the guest runs: the NIC-mode suites on the igb pair, then the lab's own tests
    (mutations, SKIPs on e1000e, binding restored), whose last module checks that nothing the
    harness made is left."""
    nics = ("--nic", "$DPDK_HARNESS_LAB_IGB0", "--nic", "$DPDK_HARNESS_LAB_IGB1")
    skip = tuple(f"--ignore={path}" for path in NOT_IN_LAB)
    return [
        InnerRun("suites", ("suites/", *nics, "--dpdk-profile", profile, *skip, *extra), top=True),
        InnerRun("self", ("tests/lab", *extra)),
    ]


def guest_script(*, repo: str, python: str, cache: Cache, kver: str, out_mount: str, label: str,
                 runs: list[InnerRun]) -> str:
    """The script the guest runs after switch_root, as PID 1: set up, run pytest, power off.

    Writes ``status`` (one ``<run> <exit status>`` line per run) into the out share; the host
    judges the run from it (:func:`judge`).
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# dpdk-harness lab guest script (written by harness/lab/run.py; runs as PID 1 in the guest)",
        "trap '' PIPE",
        "export PATH=" + q(f"{cache.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "export HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
        f"export DPDK_HARNESS_LAB={q(label)}",
        "mount -t proc proc /proc",
        "mount -t sysfs sys /sys",
        # a fresh /run: the host's run journals and EAL runtime dirs are not the guest's. /tmp stays the
        # overlay's (writable, thrown away at power-off): the checkout or the cache may live there.
        "mount -t tmpfs tmpfs /run",
        "mkdir -p /dev/shm /dev/pts /var/run && mount -t tmpfs tmpfs /dev/shm",
        f"mkdir -p /lib/modules && mount --bind {q(str(cache.modules(kver).parent))} /lib/modules",
        "echo \"dh-lab: guest up $(cut -d' ' -f1 /proc/uptime)s\"",
        "poweroff() {",
        f"  sync; {q(str(cache.root / 'bin/busybox'))} poweroff -f",
        "  echo o > /proc/sysrq-trigger; sleep 60",
        "}",
        "ip link set lo up",
        "for m in " + " ".join(GUEST_MODULES) + "; do modprobe $m || echo \"dh-lab: modprobe $m failed\"; done",
        "pci_of_mac() {",
        "  for n in /sys/class/net/*; do",
        "    [ \"$(cat $n/address 2>/dev/null)\" = \"$1\" ] || continue",
        "    d=$(readlink -f $n/device)",
        "    case $(basename $d) in virtio*) d=$(dirname $d);; esac   # virtio: <pci>/virtioN/net/ethX",
        "    basename $d; return 0",
        "  done; return 1",
        "}",
        "netdev_of_mac() {",
        "  for n in /sys/class/net/*; do",
        "    [ \"$(cat $n/address 2>/dev/null)\" = \"$1\" ] && basename $n && return 0",
        "  done",
        "  return 1",
        "}",
        "i=0; while [ $i -lt 50 ]; do",
        "  ok=1",
    ]
    for nic in GUEST_NICS:
        lines.append(f"  pci_of_mac {nic.mac} >/dev/null || ok=0")
    lines += [
        "  [ $ok = 1 ] && break; i=$((i+1)); sleep 0.2",
        "done",
    ]
    for nic in GUEST_NICS:
        lines.append(f"export {nic.env}=$(pci_of_mac {nic.mac})")
    mgmt = next(n for n in GUEST_NICS if n.role == "mgmt")
    lines += [
        f"mgmt_if=$(netdev_of_mac {mgmt.mac})",
        "ip link set \"$mgmt_if\" up",
        f"ip addr add {MGMT_ADDRESS} dev \"$mgmt_if\"",
        f"ip route add default via {MGMT_GATEWAY} dev \"$mgmt_if\"",
        "export DPDK_HARNESS_LAB_MGMT_IF=\"$mgmt_if\"",
        "echo \"dh-lab: NICs " + " ".join(f"{n.role}=${n.env}" for n in GUEST_NICS) + " (mgmt netdev $mgmt_if)\"",
        "for a in " + " ".join(f"${n.env}" for n in GUEST_NICS) + "; do",
        "  echo \"dh-lab: $a on $(basename $(readlink /sys/bus/pci/devices/$a/driver 2>/dev/null) 2>/dev/null)"
        " iommu group $(basename $(readlink /sys/bus/pci/devices/$a/iommu_group 2>/dev/null) 2>/dev/null)\"",
        "done",
        f"cd {q(repo)}",
        f": > {q(out_mount + '/status')}",
    ]
    for run in runs:
        rdir = out_mount if run.top else f"{out_mount}/{run.name}"
        args = " ".join(f'"{a}"' if a.startswith("$") else q(a) for a in run.args)
        lines += [
            f"echo \"dh-lab: run {run.name} at $(cut -d' ' -f1 /proc/uptime)s\"",
            f"PYTHONFAULTHANDLER=1 timeout -s ABRT -k 30 {INNER_TIMEOUT_S} {q(python)} -m pytest {args}"
            f" -p no:cacheprovider -rs --dpdk-report-dir {q(rdir)}"
            f" > {q(out_mount + '/' + run.name + '.log')} 2>&1",
            f"echo \"{run.name} $?\" >> {q(out_mount + '/status')}",
            f"tail -n 3 {q(out_mount + '/' + run.name + '.log')}",
        ]
    lines += [
        "echo \"dh-lab: done at $(cut -d' ' -f1 /proc/uptime)s\"",
        "echo done >> " + q(out_mount + "/status"),
        "poweroff",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- verdict

@dataclass
class Verdict:
    exit_status: int
    lines: list[str] = field(default_factory=list)


def judge(status_text: str | None, runs: list[InnerRun], console_tail: str = "") -> Verdict:
    """The lab's exit status from the guest's ``status`` file.

    Every inner run must have reported and the guest must have finished; the status is the
    first non-zero inner pytest status (pytest's own codes), 3 when the guest never finished.
    """
    if status_text is None:
        return Verdict(3, ["the guest wrote no status: it did not boot or crashed before running pytest; "
                           "see reports/lab/console.log" + (f" (last lines: {console_tail})" if console_tail else "")])
    got: dict[str, int] = {}
    done = False
    for line in status_text.splitlines():
        parts = line.split()
        if parts == ["done"]:
            done = True
        elif len(parts) == 2 and parts[1].lstrip("-").isdigit():
            got[parts[0]] = int(parts[1])
    lines, status = [], 0
    for run in runs:
        if run.name not in got:
            lines.append(f"{run.name}: did not finish (the guest stopped early; see reports/lab/console.log)")
            status = status or 3
            continue
        rc = got[run.name]
        where = "reports/lab/junit.xml" if run.top else f"reports/lab/{run.name}/junit.xml"
        lines.append(f"{run.name}: pytest exit status {rc} ({'passed' if rc == 0 else 'FAILED'}; {where})")
        status = status or rc
    if not done and status == 0:
        lines.append("the guest did not reach the end of its script; see reports/lab/console.log")
        status = 3
    return Verdict(status, lines)


def lab_label(qemu: tuple[int, ...], accel: str) -> str:
    """What the inner runs export as DPDK_HARNESS_LAB (the report's emulated_nic)."""
    return f"igb (QEMU {'.'.join(map(str, qemu))}, {accel})"


