"""The plugin's command line: its options, and bad input stopped before the host is touched.

Every bad-input run must end with pytest's usage-error exit code (4) and one ``ERROR: ...`` line
naming the problem and the fix, print no traceback, and change nothing on the host.
"""
from __future__ import annotations

import os

import pytest

USES_PORTS = """
def test_uses_ports(ports):
    assert ports.ports
"""


def test_help_lists_the_harness_options(child):
    result = child.run("--help")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines([
        "dpdk-harness: the deployment under test:",
        "*--nic=PCI*",
        "*--vdev=TOPOLOGY*",
        "*--dpdk-profile=PATH*",
        "*--report-dir=DIR*",
        "*--lcores=LIST*",
    ])


def test_markers_are_registered_with_a_usage_line(child):
    result = child.run("--markers")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines([
        "@pytest.mark.requires(*capabilities): SKIP unless the ports under test have them*",
        "@pytest.mark.allow_mbuf_leak: *",
    ])


# ------------------------------------------------------------------------ bad input

def _active_interface() -> tuple[str, list[str]] | None:
    """The host's interface that carries the default route (else any route) and its addresses."""
    try:
        from pyroute2 import IPRoute
    except ImportError:
        return None
    with IPRoute() as ipr:
        oifs = []
        for r in ipr.get_routes(family=2):  # AF_INET
            table = r.get_attr("RTA_TABLE") or r.get("table")
            oif = r.get_attr("RTA_OIF")
            if table == 255 or r["type"] != 1 or not oif:
                continue  # local/broadcast entries the kernel adds by itself
            if r.get_attr("RTA_DST") is None:
                oifs.insert(0, oif)  # the default route's interface first
            else:
                oifs.append(oif)
        for oif in oifs:
            addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=oif)]
            links = ipr.get_links(oif)
            if addrs and links:
                return links[0].get_attr("IFLA_IFNAME"), addrs
    return None


def _malformed_toml(child, fake_host):
    path = child.pytester.path / "broken.toml"
    path.write_text('name = "broken"\n[eal\nlcores = "0-1"\n')
    return [f"--dpdk-profile={path}"], [str(path), "not valid TOML", "line 2"]


def _unknown_key(child, fake_host):
    path = child.pytester.path / "typo.toml"
    text = child.VDEV_PROFILE.read_text().replace("rx_desc = 1024", "rx_dsec = 1024", 1)
    assert "rx_dsec" in text
    path.write_text(text)
    return [f"--dpdk-profile={path}"], [str(path), "queues.rx_dsec", "unknown key", "rx_desc"]


def _missing_profile(child, fake_host):
    path = child.pytester.path / "nowhere" / "absent.toml"
    return [f"--dpdk-profile={path}"], [str(path), "no such profile file", "--dpdk-profile"]


def _malformed_nic(child, fake_host):
    return ["--nic", "03:00"], ["--nic", "'03:00' is not a PCI address", "e.g. 0000:03:00.0"]


def _absent_nic(child, fake_host):
    return ["--nic", "0000:7f:00.0"], ["--nic 0000:7f:00.0", "no such PCI device", "lspci -D"]


def _storage_device(child, fake_host):
    fake_host.add_pci("0000:5e:00.0", class_code=0x010802, vendor="0x144d", device="0xa808", driver="nvme")
    return ["--nic", "0000:5e:00.0"], ["0000:5e:00.0 is not a network controller", "0x010802",
                                       "mass storage", "only takes NICs"]


def _active_netdev(child, fake_host):
    active = _active_interface()
    if active is None:
        pytest.skip("this host has no interface with IPv4 addresses and routes to impersonate")
    ifname, addrs = active
    # a virtio NIC whose netdev, named like the host's live interface, sits at <pci>/virtio0/net/<name>
    fake_host.add_pci("0000:5e:00.0", driver="virtio-pci", netdev=ifname, nested=True)
    assert (fake_host.sys_root / "class/net" / ifname / "device").resolve() == (
        fake_host.dev_dir("0000:5e:00.0").resolve() / "virtio0")
    return ["--nic", "0000:5e:00.0"], ["refusing 0000:5e:00.0", f"netdev {ifname} carries",
                                       f"address {addrs[0]}", "pick another NIC"]


def _nic_profile_without_any_pci(child, fake_host):
    """profiles/lab-igb.toml names no PCI address (the lab gives --nic): without --nic it is one line."""
    lab = child.VDEV_PROFILE.parent / "lab-igb.toml"
    return [f"--dpdk-profile={lab}"], [f"{lab}: ports.loopback", "'cable' needs NIC ports but neither --nic nor "
                                       "ports.pci gives any", "pass --nic PCI for each port", "ports.pci"]


def _nic_profile_without_pci_takes_the_nic_option(child, fake_host):
    """The same profile with --nic is accepted: the run goes on to look the address up (absent here)."""
    lab = child.VDEV_PROFILE.parent / "lab-igb.toml"
    return [f"--dpdk-profile={lab}", "--nic", "0000:7f:00.0"], ["--nic 0000:7f:00.0", "no such PCI device"]


def _too_many_lcores(child, fake_host):
    last = max(63, os.cpu_count() or 1, max(os.sched_getaffinity(0)) + 1)  # more lcores than CPUs
    return ["--dpdk-lcores", f"0-{last}"], ["--dpdk-lcores: lcore", "mapped to CPU", "may only use", "e.g. --dpdk-lcores"]


def _unknown_vdev(child, fake_host):
    return ["--vdev", "nosuch"], ["--vdev", "'nosuch' is not a topology", "null_pair, ring_wire"]


def _nic_and_vdev(child, fake_host):
    return ["--nic", "0000:7f:00.0", "--vdev", "null_pair"], ["--nic and --vdev", "one or the other"]


BAD_INPUT = {
    "malformed_toml": _malformed_toml,
    "unknown_profile_key": _unknown_key,
    "missing_profile": _missing_profile,
    "malformed_nic": _malformed_nic,
    "absent_nic": _absent_nic,
    "storage_device_as_nic": _storage_device,
    "nic_with_active_netdev": _active_netdev,
    "more_lcores_than_cpus": _too_many_lcores,
    "unknown_vdev": _unknown_vdev,
    "nic_and_vdev": _nic_and_vdev,
    "nic_profile_without_any_pci": _nic_profile_without_any_pci,
    "nic_profile_without_pci_takes_the_nic_option": _nic_profile_without_pci_takes_the_nic_option,
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_one_line_usage_error(child, pytester, monkeypatch, fake_host, host_guard, case):
    pytester.makepyfile(test_uses_ports=USES_PORTS)
    args, needles = BAD_INPUT[case](child, fake_host)
    if "--nic" in args:
        # never let a --nic run see the real /sys: every address here is looked up in a fabricated tree
        monkeypatch.setenv("DPDK_HARNESS_SYS_ROOT", str(fake_host.sys_root))
    profile = None if any(a.startswith("--dpdk-profile=") for a in args) else child.VDEV_PROFILE
    result = child.run(*args, profile=profile)
    child.usage_error(result, *needles)
    assert "collected" not in result.stdout.str(), "the run went on to collect tests"
    assert not (pytester.path / "reports").exists(), "a refused run must not create its report dir"
    host_guard()
