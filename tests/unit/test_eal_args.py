"""EAL argv built from a profile: never a PCI scan, a unique prefix, hugepages or not."""

from harness.profile import parse_profile
from harness.session import eal_args, hugepages_needed


def args(text="", **kw):
    return eal_args(parse_profile(text, "p.toml"), file_prefix=kw.get("prefix", "dh-1-abc"),
                    huge_dir=kw.get("huge_dir", "/run/dpdk-harness/run-1/hugepages-2048kB"))


def test_vdev_mode_never_probes_pci():
    a = args()
    assert "--no-pci" in a and "-a" not in a


def test_nic_mode_allowlists_each_nic_and_nothing_else():
    a = args('[ports]\npci = ["0000:03:00.0", "03:00.1"]\n')
    assert "--no-pci" not in a
    assert [a[i + 1] for i, x in enumerate(a) if x == "-a"] == ["0000:03:00.0", "0000:03:00.1"]


def test_lcores_prefix_and_log_level():
    a = args('[eal]\nlcores = "0@0,1@(0,1)"\nlog_level = "debug"\n', prefix="dh-42-ff")
    assert a[a.index("--lcores") + 1] == "0@0,1@(0,1)"
    assert a[a.index("--main-lcore") + 1] == "0"
    assert a[a.index("--file-prefix") + 1] == "dh-42-ff"
    assert "--log-level=debug" in a


def test_hugepages_with_unlink_and_dir():
    a = args('[eal]\nmemory_mb = 512\n')
    assert a[a.index("-m") + 1] == "512"
    assert "--huge-unlink" in a and a[a.index("--huge-dir") + 1].endswith("hugepages-2048kB")
    assert "--no-huge" not in a


def test_no_hugepage_mode():
    a = args('[eal]\nhugepages = false\nmemory_mb = 128\n')
    assert "--no-huge" in a and "--huge-dir" not in a and "--huge-unlink" not in a
    assert a[a.index("-m") + 1] == "128"


def test_extra_args_come_last():
    a = args('[eal]\nextra_args = ["--no-telemetry"]\n')
    assert a[-1] == "--no-telemetry"


def test_hugepages_needed_covers_memory():
    p = parse_profile('[eal]\nmemory_mb = 256\n', "p.toml")
    assert hugepages_needed(p) * 2048 >= 256 * 1024


def test_unique_prefix_per_session():
    from harness.session import HarnessSession
    p = parse_profile("", "p.toml")
    assert HarnessSession(p).file_prefix != HarnessSession(p).file_prefix
