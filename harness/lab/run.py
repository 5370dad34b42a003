"""``python -m harness lab``: fetch, build, boot the emulated-NIC lab, run the NIC path inside, judge.

1. fetch: Debian's registry, through a private apt sources list and lists dir under the cache
   (``apt-get download`` + ``dpkg-deb -x``): QEMU >= 8 from backports with the libraries this
   host lacks, the Debian kernel (then ``depmod``), busybox-static and kmod. Nothing is installed
   on the host; a second run finds the cache complete and fetches nothing.
2. build the initramfs (busybox, the 9p/overlay modules, /init), once per kernel.
3. boot: KVM first where /dev/kvm works, TCG otherwise; the guest mounts the host's / read-only
   under a tmpfs overlay and runs the script :func:`harness.lab.model.guest_script` wrote.
4. collect: the inner runs write into reports/lab/ (a writable 9p share); the guest powers off;
   the lab exits with the inner pytest status (:func:`harness.lab.model.judge`).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

from harness.errors import HostError, UsageError
from harness.lab import initramfs, model
from harness.lab.model import Cache

REPO = pathlib.Path(__file__).resolve().parents[2]
OUT_MOUNT = model.OUT_MOUNT        # where the guest sees reports/lab
KVM_BOOT_S = 12.0                  # KVM must reach the initramfs this fast, else TCG
GUEST_TIMEOUT_S = 40 * 60.0        # a guest still running after this is stopped


def say(text: str) -> None:
    print(f"lab: {text}", flush=True)


def _apt_opts(cache: Cache) -> list[str]:
    return ["-o", f"Dir::Etc::SourceList={cache.sources_list}", "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State::Lists={cache.lists}", "-o", f"Dir::Cache={cache.apt / 'cache'}",
            "-o", f"Dir::Cache::archives={cache.archives}", "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Retries=3", "-q"]


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except FileNotFoundError as exc:
        raise HostError(f"{what}: {cmd[0]} not found; the lab needs Debian's apt-get and dpkg-deb") from exc
    if res.returncode != 0:
        detail = " ".join((res.stderr or res.stdout).split())[-400:]
        raise HostError(f"{what} failed (exit {res.returncode}): {detail}")
    return res


def _host_sources() -> list[str]:
    texts = []
    for path in [pathlib.Path("/etc/apt/sources.list"), *sorted(pathlib.Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.suffix in (".list", ".sources") and path.is_file():
            texts.append(path.read_text())
    return texts


def fetch(cache: Cache) -> str:
    """Make the cache complete (or find it so); returns the guest kernel version."""
    kver = _complete_kernel(cache)
    if kver:
        say(f"cache {cache.base}: complete (kernel {kver}), nothing to fetch")
        return kver
    codename = model.parse_os_release(pathlib.Path("/etc/os-release").read_text())
    archive, security = model.apt_mirrors(_host_sources(), codename)
    if not codename or not archive:
        raise UsageError(f"the lab fetches from the Debian archive the host's apt sources name for its release; "
                         f"found release {codename or '?'} and archive {archive or 'none'} in /etc/apt: run the "
                         "lab on Debian 12 (bookworm) with a Debian mirror in its apt sources")
    for d in (cache.apt, cache.lists / "partial", cache.archives / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    cache.sources_list.write_text(model.lab_sources_list(archive, security, codename))
    opts = _apt_opts(cache)
    say(f"fetching package lists ({codename}, {model.backports_suite(codename)}) into {cache.apt}")
    _run(["apt-get", *opts, "update"], "apt-get update (lab sources)")
    kernel = model.kernel_package(_run(["apt-cache", *opts, "depends", model.KERNEL_META],
                                       f"apt-cache depends {model.KERNEL_META}").stdout)
    if not kernel:
        raise HostError(f"apt-cache depends {model.KERNEL_META} names no linux-image-<version>-amd64")
    bpo = model.backports_suite(codename)
    sim = _run(["apt-get", *opts, "-s", "install", "--no-install-recommends",
                *(f"{p}/{bpo}" for p in model.QEMU_PACKAGES), *model.TOOL_PACKAGES],
               f"resolving {', '.join(model.QEMU_PACKAGES)} from {bpo}").stdout
    pkgs = model.parse_simulated_installs(sim)
    for want in (*model.QEMU_PACKAGES, *model.TOOL_PACKAGES):
        if not any(p.startswith(want + "=") for p in pkgs):
            pkgs.append(want)  # on the host already: the lab still needs its own unpacked copy
    say(f"downloading {len(pkgs) + 1} packages ({kernel}, QEMU from {bpo}, busybox-static, kmod, libraries)")
    for f in cache.archives.glob("*.deb"):
        f.unlink()
    _run(["apt-get", *opts, "download", *pkgs, kernel], "apt-get download", cwd=cache.archives)
    if cache.root.exists():
        shutil.rmtree(cache.root)
    cache.root.mkdir(parents=True)
    debs = sorted(cache.archives.glob("*.deb"))
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(cache.root)], f"dpkg-deb -x {deb.name}")
    kvers = model.kernel_versions([p.name for p in (cache.root / "lib/modules").iterdir()])
    if not kvers:
        raise HostError(f"{kernel} unpacked no /lib/modules/<version> under {cache.root}")
    kver = kvers[-1]
    _kmod(cache, "depmod", "-b", str(cache.root), kver)
    qver = _qemu_version(cache)
    if qver < model.QEMU_MIN:
        raise HostError(f"QEMU {'.'.join(map(str, qver))} from {bpo} has no igb device (needs >= 8.0)")
    cache.manifest.write_text("\n".join(d.name for d in debs) + "\n")
    say(f"cache {cache.base}: QEMU {'.'.join(map(str, qver))}, kernel {kver}")
    return kver


def _complete_kernel(cache: Cache) -> str | None:
    if not (cache.manifest.is_file() and cache.qemu.is_file() and (cache.root / "lib/modules").is_dir()):
        return None
    kvers = model.kernel_versions([p.name for p in (cache.root / "lib/modules").iterdir()])
    if not kvers or not cache.kernel(kvers[-1]).is_file():
        return None
    if not (cache.modules(kvers[-1]) / "modules.dep").is_file():
        return None
    return kvers[-1]


def _kmod_links(cache: Cache) -> None:
    """modprobe, depmod, ... as links to the unpacked kmod: the guest's PATH has them first."""
    cache.bin.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(cache.root / "bin/kmod", cache.bin)  # relative: valid wherever the cache is seen
    for name in ("modprobe", "depmod", "insmod", "rmmod", "lsmod", "modinfo"):
        link = cache.bin / name
        if link.is_symlink() and os.readlink(link) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def _kmod(cache: Cache, tool: str, *args: str) -> None:
    _kmod_links(cache)
    _run([str(cache.bin / tool), *args], f"{tool} {' '.join(args)}")


def _qemu_env(cache: Cache) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": cache.library_path}


def _qemu_version(cache: Cache) -> tuple[int, ...]:
    res = _run([str(cache.qemu), "--version"], "qemu-system-x86_64 --version", env=_qemu_env(cache))
    return model.qemu_version(res.stdout)


def build_initramfs(cache: Cache, kver: str) -> pathlib.Path:
    """busybox + the 9p/overlay modules + /init, as a newc cpio; rebuilt when the kernel changes."""
    path = cache.initramfs(kver)
    _kmod_links(cache)
    if path.is_file() and path.stat().st_mtime >= (cache.modules(kver) / "modules.dep").stat().st_mtime:
        return path
    moddir = cache.modules(kver)
    order = model.module_closure((moddir / "modules.dep").read_text(), model.INITRAMFS_MODULES)
    modules = {rel: (moddir / rel).read_bytes() for rel in order}
    busybox = (cache.root / "bin/busybox").read_bytes()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(initramfs.cpio_newc(initramfs.initramfs_entries(busybox, modules)))
    tmp.replace(path)
    say(f"initramfs {path.name}: busybox and {len(order)} modules")
    return path


def _kvm_usable() -> str | None:
    """None when /dev/kvm can be opened; else why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    os.close(fd)
    return None


class Boot:
    """One QEMU run: console to reports/lab/console.log, ``dh-lab:`` lines echoed to the terminal."""

    def __init__(self, argv: list[str], env: dict[str, str], console: pathlib.Path):
        self.log = console.open("a")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.booted = threading.Event()
        self.tail: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(line + "\n")
            self.log.flush()
            if "is not connected to host network" in line:
                continue  # the test NICs' hubs reach nothing on purpose
            self.tail = (self.tail + [line])[-12:]
            if "dh-lab: initramfs up" in line:
                self.booted.set()
            if line.startswith("dh-lab:") or "Kernel panic" in line:
                say(line.removeprefix("dh-lab: "))

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.reader.join(5)
        self.log.close()


def run_lab(cache: Cache, out: pathlib.Path, *, accel: str = "auto", extra: tuple[str, ...] = (),
            profile: str = "profiles/lab-igb.toml") -> int:
    if os.geteuid() != 0:
        raise UsageError("the lab needs root (apt-get download into its cache, QEMU with 9p shares of /); "
                         "run `sudo ./harness.sh lab`")
    python = pathlib.Path(sys.executable)
    if not str(python).startswith(str(REPO)):
        python = REPO / ".venv/bin/python"
    if not python.exists():
        raise UsageError(f"{python} not found: run `./harness.sh setup` first (the guest runs the project's venv)")
    t0 = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = open(out.parent / f".{out.name}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"another lab run is writing {out}; wait for it to finish, or pass --out DIR") from None
    cache.base.mkdir(parents=True, exist_ok=True)
    cache_lock = open(cache.base / ".lock", "w")
    fcntl.flock(cache_lock, fcntl.LOCK_EX)  # one fetch at a time; a second run waits, then reuses it
    kver = fetch(cache)
    build_initramfs(cache, kver)
    cache_lock.close()
    qver = _qemu_version(cache)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    runs = model.inner_runs(profile, extra)
    candidates = ["kvm", "tcg"] if accel == "auto" else [accel]
    why_not_kvm = _kvm_usable() if "kvm" in candidates else None
    if why_not_kvm and accel == "auto":
        candidates = ["tcg"]
        say(f"KVM not usable ({why_not_kvm}): TCG")
    say(f"ready in {time.monotonic() - t0:.0f} s; booting the guest")
    rc_qemu = None
    for acc in candidates:
        label = model.lab_label(qver, acc)
        script = out / "guest.sh"
        script.write_text(model.guest_script(repo=str(REPO), python=str(python), cache=cache, kver=kver,
                                             out_mount=OUT_MOUNT, label=label, runs=runs))
        script.chmod(0o755)
        argv = model.qemu_argv(cache, kver, accel=acc, share_root="/", out_dir=str(out),
                               script=f"{OUT_MOUNT}/guest.sh")
        (out / "qemu-argv.txt").write_text(" ".join(argv) + "\n")
        boot = Boot(argv, _qemu_env(cache), out / "console.log")
        try:
            if acc == "kvm" and len(candidates) > 1:
                if not boot.booted.wait(KVM_BOOT_S) or boot.proc.poll() not in (None, 0):
                    boot.close()
                    last = " / ".join(boot.tail[-2:]) or "no output"
                    say(f"KVM did not boot the guest within {KVM_BOOT_S:.0f} s ({last}): TCG")
                    (out / "status").unlink(missing_ok=True)
                    continue
            say(f"guest booting with {acc} ({label})")
            rc_qemu = boot.wait(GUEST_TIMEOUT_S)
            if rc_qemu is None:
                say(f"the guest still ran after {GUEST_TIMEOUT_S / 60:.0f} min: stopped")
        finally:
            boot.close()
        break
    status = out / "status"
    verdict = model.judge(status.read_text() if status.exists() else None, runs,
                          " / ".join(boot.tail[-3:]) if rc_qemu is None or not status.exists() else "")
    for line in verdict.lines:
        say(line)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    say(f"finished in {wall:.0f} s, exit status {verdict.exit_status}; reports in {out}")
    say(f"QEMU (and any fetch) used {ru.ru_utime + ru.ru_stime:.0f} CPU-seconds; "
        f"host load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (a busy host slows the guest: it shares the CPUs)")
    return verdict.exit_status


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", default=None, metavar="DIR",
                   help=f"where packages, QEMU and the kernel are kept (default: $DPDK_HARNESS_LAB_CACHE or "
                        f"{model.default_cache_dir()})")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="auto (default): KVM when it boots the guest, else TCG")
    p.add_argument("--out", default=str(REPO / "reports" / "lab"), metavar="DIR",
                   help="where the guest's reports go (default: reports/lab)")
    p.add_argument("--fetch-only", action="store_true", help="fill the cache and build the initramfs, do not boot")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for the inner pytest runs (after --)")


def main(args: argparse.Namespace) -> int:
    cache = Cache(pathlib.Path(args.cache) if args.cache else model.default_cache_dir())
    if args.fetch_only:
        kver = fetch(cache)
        build_initramfs(cache, kver)
        return 0
    return run_lab(cache, pathlib.Path(args.out), accel=args.accel, extra=tuple(args.pytest_args))
