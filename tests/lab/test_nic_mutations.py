"""On the lab's igb pair (a real PMD, device RSS), each RSS check FAILS on its broken deployment and
names what to change; the --nic path refuses the management NIC; a NIC without RSS SKIPs naming it.

Each case is a child pytest (tests/mutations/mutate.py's ``run_suite``) on profiles/lab-igb.toml
with one change; the child binds the igb pair, runs, and gives it back.
"""
import pytest
from labrun import E1000E, IGB, MGMT, MGMT_IF, NIC_ARGS, driver_of, lab_profile, netdevs_of, run_suite

RSS = "suites/rss"


def test_rss_off_with_four_queues_fails_the_device_spread(tmp_path):
    run = run_suite(tmp_path, RSS, *NIC_ARGS, "-k", "spread",
                    profile=lab_profile(tmp_path, "lab-rss-off", rss__enabled=False, rss__symmetric=False))
    check = "test_spread_measured[nic]"
    assert run.outcome(check) == "failed", run.output
    msg = run.message(check)
    assert "RSS is disabled (rss.enabled = false) with 4 rx queues: queues 1..3 receive nothing" in msg, msg
    assert "set rss.enabled = true" in msg


def test_reta_all_zero_fails_the_configured_and_the_measured_spread(tmp_path):
    run = run_suite(tmp_path, RSS, *NIC_ARGS, "-k", "spread or reta_applied",
                    profile=lab_profile(tmp_path, "lab-reta-zero", rss__reta=[0, 0, 0, 0]))
    for check in ("test_spread_expected_from_configuration", "test_spread_measured[nic]"):
        assert run.outcome(check) == "failed", (check, run.output)
    msg = run.message("test_spread_expected_from_configuration")
    assert "rss.reta = [0, 0, 0, 0] points only at queue 0: queues 1..3 are in no RETA entry" in msg, msg
    measured = run.message("test_spread_measured[nic]")
    assert "net_e1000_igb" in measured and "[" in measured, measured
    assert run.outcome("test_rss_reta_applied") == "failed", run.output  # the RETA idles 3 configured queues
    assert "queue" in run.message("test_rss_reta_applied")


def test_a_key_the_device_does_not_hold_fails_the_hash_check_naming_the_key(tmp_path):
    """--dpdk-probe-fault rss-key hands the PMD another key than rss.key (as a PMD that ignores the
    configured key would): the device then hashes with a key the deployment did not choose."""
    run = run_suite(tmp_path, RSS, *NIC_ARGS, "--dpdk-probe-fault", "rss-key", "-k",
                    "device_hash_matches_reference or rss_hash_configuration_applied",
                    profile=lab_profile(tmp_path, "lab-wrong-key"))
    want = lab_profile(tmp_path, "k").read_text().split('key = "')[1].split('"')[0]
    check = "test_device_hash_matches_reference"
    assert run.outcome(check) == "failed", run.output
    msg = run.message(check)
    assert f"rss.key {want}" in msg and "the device does not hash with rss.key" in msg, msg
    assert run.outcome("test_rss_hash_configuration_applied") == "failed", run.output
    assert want[:16] in run.message("test_rss_hash_configuration_applied")


def test_the_management_nic_is_refused_in_one_line_and_left_alone(tmp_path):
    before = driver_of(MGMT)
    run = run_suite(tmp_path, "suites/ports", "--nic", MGMT, profile=lab_profile(tmp_path, "lab-mgmt"))
    assert run.returncode == 4, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, run.output
    assert f"refusing {MGMT}: its netdev {MGMT_IF} carries address 198.19.0.15/24" in errors[0], errors[0]
    assert "take it down and flush it first, or pick another NIC" in errors[0]
    assert "Traceback" not in run.output
    assert driver_of(MGMT) == before == "virtio-pci"
    assert netdevs_of(MGMT) == [MGMT_IF]


def test_rss_checks_skip_on_the_e1000e_naming_it(tmp_path):
    prof = lab_profile(tmp_path, "lab-e1000e", ports__pci=[E1000E], ports__loopback="none",
                       queues__rx=2, queues__tx=2)
    run = run_suite(tmp_path, RSS, "--nic", E1000E, "-k", "configuration_applied or device_hash or reprogrammed",
                    profile=prof)
    assert run.returncode == 0, run.output
    checks = [t for t in run.verdicts if "configuration_applied" in t or "device_hash" in t or "reprogrammed" in t]
    assert checks, run.output
    for check in checks:
        assert run.outcome(check) == "skipped", (check, run.verdicts[check])
        msg = run.message(check)
        assert "net_e1000_em" in msg and E1000E in msg, (check, msg)
    assert driver_of(E1000E) == "e1000e" and netdevs_of(E1000E)


@pytest.mark.parametrize("pci", IGB)
def test_igb_ports_are_on_igb_between_runs(pci):
    assert driver_of(pci) == "igb" and netdevs_of(pci), (pci, driver_of(pci), netdevs_of(pci))
