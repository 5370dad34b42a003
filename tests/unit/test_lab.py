"""The lab's pure parts (harness/lab/model.py): no root, no QEMU, no network."""
import tomllib
from pathlib import Path

import pytest

from harness.lab import initramfs, model
from harness.lab.model import Cache, InnerRun

DEB822 = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""
ONE_LINE = """# comment
deb [arch=amd64] http://mirror.example/debian/ bookworm main contrib
deb http://security.example/debian-security bookworm-security main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
"""

SIMULATION = """NOTE: This is only a simulation!
Inst libslirp0 (4.7.0-1 Debian:12.15/oldstable [amd64])
Inst linux-perf [6.1.187-1] (6.1.192-3 Debian-Security:12/oldstable-security [amd64])
Inst cpio (2.13+dfsg-7.1 Debian:12.15/oldstable [amd64])
Inst qemu-system-x86 (1:10.0.2+ds-2+deb13u1~bpo12+1 Debian Backports:oldstable-backports [amd64])
Conf libslirp0 (4.7.0-1 Debian:12.15/oldstable [amd64])
"""


def test_mirrors_come_from_the_hosts_own_sources_in_both_formats():
    assert model.apt_mirrors([DEB822], "bookworm") == ("http://deb.debian.org/debian",
                                                      "http://deb.debian.org/debian-security")
    assert model.apt_mirrors([ONE_LINE], "bookworm") == ("http://mirror.example/debian",
                                                        "http://security.example/debian-security")
    assert model.apt_mirrors(["deb http://x/debian bullseye main\n"], "bookworm") == (None, None)
    text = model.lab_sources_list("http://m/debian", "http://s/debian-security", "bookworm")
    assert "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m/debian bookworm-backports main" in text
    assert "http://s/debian-security bookworm-security main" in text
    assert model.parse_os_release('PRETTY_NAME="Debian"\nVERSION_CODENAME=bookworm\n') == "bookworm"


def test_only_packages_the_host_lacks_are_fetched_never_upgrades_or_initramfs_tools():
    assert model.parse_simulated_installs(SIMULATION) == [
        "libslirp0=4.7.0-1", "qemu-system-x86=1:10.0.2+ds-2+deb13u1~bpo12+1"]


def test_kernel_package_and_qemu_version():
    assert model.kernel_package("linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n") == \
        "linux-image-6.1.0-57-amd64-unsigned"
    assert model.kernel_package("linux-image-amd64\n") is None
    assert model.qemu_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)") == (10, 0, 2)
    assert model.qemu_version("QEMU emulator version 7.2.19") < model.QEMU_MIN <= (10, 0, 2)
    assert model.kernel_versions(["6.1.0-57-amd64", "6.1.0-56-amd64", "build"]) == ["6.1.0-56-amd64", "6.1.0-57-amd64"]


def test_cache_dir_follows_the_environment():
    assert model.default_cache_dir({"DPDK_HARNESS_LAB_CACHE": "/c"}) == Path("/c")
    assert model.default_cache_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/dpdk-harness/lab")
    assert model.default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/dpdk-harness/lab")


MODULES_DEP = """kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko
kernel/drivers/vfio/vfio.ko:
"""


def test_module_closure_loads_dependencies_first_and_names_a_missing_module():
    order = model.module_closure(MODULES_DEP, ["9p", "vfio_pci"])
    assert order == ["kernel/net/9p/9pnet.ko", "kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko",
                     "kernel/fs/9p/9p.ko", "kernel/drivers/vfio/vfio.ko", "kernel/drivers/vfio/pci/vfio-pci.ko"]
    with pytest.raises(KeyError, match="overlay"):
        model.module_closure(MODULES_DEP, ["overlay"])


def _read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos: pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def test_initramfs_is_a_newc_archive_with_busybox_modules_in_order_and_init():
    entries = initramfs.initramfs_entries(b"BB", {"kernel/a/x.ko": b"X", "kernel/b/y.ko": b"YY"})
    files = _read_cpio(initramfs.cpio_newc(entries))
    assert files["bin/busybox"] == (initramfs.S_IFREG | 0o755, b"BB")
    assert files["bin/sh"] == (initramfs.S_IFLNK | 0o777, b"busybox")
    assert files["lib/modules/00-x.ko"][1] == b"X" and files["lib/modules/01-y.ko"][1] == b"YY"
    init = files["init"][1].decode()
    assert files["init"][0] == initramfs.S_IFREG | 0o755
    assert "mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro root /mnt/lower" in init
    assert f"out /mnt/root{model.OUT_MOUNT}" in init and "exec switch_root /mnt/root" in init


def test_qemu_line_keeps_test_traffic_inside_the_guest():
    cache = Cache(Path("/c"))
    argv = model.qemu_argv(cache, "6.1.0-57-amd64", accel="tcg", share_root="/", out_dir="/r/lab",
                           script="/mnt/dh-lab/guest.sh")
    line = " ".join(argv)
    assert argv[0] == "/c/root/usr/bin/qemu-system-x86_64"
    assert "-accel tcg,thread=multi,tb-size=256 -cpu max" in line and "intel-iommu,intremap=on" in line
    assert "path=/,security_model=none,readonly=on" in line and "path=/r/lab,security_model=none" in line
    netdevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-netdev"]
    # the only way out is the management NIC, and it is restricted; test NICs sit on hubs
    assert netdevs[0] == "user,id=mgmt,restrict=on,net=198.19.0.0/24"
    assert all(n.startswith("hubport,") for n in netdevs[1:])
    assert "hubport,id=cable0,hubid=1" in netdevs and "hubport,id=cable1,hubid=1" in netdevs
    igbs = [a for a in argv if a.startswith("igb,")]
    assert len(igbs) == 2 and "bus=rp1" in igbs[0] and "bus=rp2" in igbs[1]
    assert "intel_iommu=on iommu=pt" in line and "dh.script=/mnt/dh-lab/guest.sh" in line
    kvm = " ".join(model.qemu_argv(cache, "k", accel="kvm", share_root="/", out_dir="/o", script="/s"))
    assert "-accel kvm" in kvm and "kernel-irqchip=split" in kvm


def test_guest_script_runs_the_suites_on_the_igb_pair_then_the_lab_tests_and_powers_off():
    cache = Cache(Path("/c"))
    runs = model.inner_runs("profiles/lab-igb.toml", ("-x",))
    text = model.guest_script(repo="/repo", python="/repo/.venv/bin/python", cache=cache, kver="6.1.0-57-amd64",
                              out_mount="/mnt/dh-lab", label="igb (QEMU 10.0.2, tcg)", runs=runs)
    assert "export DPDK_HARNESS_LAB='igb (QEMU 10.0.2, tcg)'" in text
    assert "export PATH=/c/bin:" in text
    assert "mount --bind /c/root/lib/modules /lib/modules" in text
    # /tmp is not hidden: a checkout or a cache under /tmp must stay visible to the guest
    assert "tmpfs /tmp" not in text and "mount -t tmpfs tmpfs /run" in text
    assert ('suites/ --nic "$DPDK_HARNESS_LAB_IGB0" --nic "$DPDK_HARNESS_LAB_IGB1" --dpdk-profile '
            "profiles/lab-igb.toml --ignore=suites/throughput -x -p no:cacheprovider") in text
    assert "--dpdk-report-dir /mnt/dh-lab/self" in text and "--dpdk-report-dir /mnt/dh-lab " in text
    assert text.index("tests/lab") > text.index("suites/")
    assert f"ip addr add {model.MGMT_ADDRESS}" in text
    assert text.rstrip().endswith("poweroff")
    for nic in model.GUEST_NICS:
        assert f"export {nic.env}=$(pci_of_mac {nic.mac})" in text


RUNS = [InnerRun("suites", (), top=True), InnerRun("self", ())]


@pytest.mark.parametrize("status, code, says", [
    (None, 3, "the guest wrote no status"),
    ("suites 0\nself 0\ndone\n", 0, "suites: pytest exit status 0 (passed; reports/lab/junit.xml)"),
    ("suites 1\nself 0\ndone\n", 1, "suites: pytest exit status 1 (FAILED"),
    ("suites 0\nself 2\ndone\n", 2, "self: pytest exit status 2 (FAILED; reports/lab/self/junit.xml)"),
    ("suites 0\n", 3, "self: did not finish"),
    ("suites 0\nself 0\n", 3, "did not reach the end of its script"),
])
def test_verdict_is_the_first_failing_inner_status_and_an_unfinished_guest_fails(status, code, says):
    v = model.judge(status, RUNS)
    assert v.exit_status == code
    assert any(says in line for line in v.lines), v.lines


def test_lab_profile_fits_the_guest_and_says_the_nic_is_emulated():
    from harness import mempool
    from harness.profile import load_profile

    path = Path(__file__).resolve().parents[2] / "profiles" / "lab-igb.toml"
    # no PCI addresses in the profile: the lab names the igb pair with --nic, found in the guest by MAC
    assert "pci" not in tomllib.loads(path.read_text())["ports"]
    p = load_profile(path, nic=["0000:01:00.0", "0000:02:00.0"])
    assert "EMULATED" in p.description
    assert list(p.ports.pci) == ["0000:01:00.0", "0000:02:00.0"]
    assert p.ports.loopback == "cable" and p.queues.rx == 4 and p.rss.enabled and p.rss.symmetric
    assert len(p.rss.key) == 40  # igb's hash_key_size
    assert max(t.pps for t in p.targets.pps) < 100_000  # tens of kpps: what QEMU's igb does under TCG
    assert p.eal.memory_mb * 1024 // p.eal.hugepage_size_kb <= model.GUEST_HUGEPAGES
    verdict, _, _ = mempool.pool_covers_pipeline(p, 2, len(p.eal.lcores))
    assert verdict.ok, verdict.message
