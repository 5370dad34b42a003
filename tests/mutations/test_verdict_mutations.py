"""Verdicts point at the real cause (issue 13): one broken thing fails ONE check, named in the profile's
terms; everything else that depended on it is skipped naming it; sound deployments that used to trip
unrelated checks (a pool at exactly the recommended size, 4 rx / 1 tx on af_packet) pass."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

BRINGUP = "test_ports_start_as_configured"
DESC_CAUSE = "queues.rx_desc = 1001: net_ring"


def _not_passed(run):
    return {t: v for t, v in run.verdicts.items() if v[0] in ("failed", "error")}


def _tester_errors_only(bad: dict) -> None:
    """A loaded host may turn a traffic check into an ERROR "tester overloaded": never into a FAIL."""
    for test, (outcome, message) in bad.items():
        assert outcome == "error" and "tester overloaded" in message, (test, outcome, message)


def test_one_bringup_fault_fails_once_and_every_dependent_check_skips_naming_it(tmp_path):
    # a device whose descriptor rings come in multiples of 8 (ixgbe's limits), a profile asking for 1001
    prof = mutated_profile(tmp_path, "desc1001", queues__rx_desc=1001)
    run = run_suite(tmp_path, "suites", "--dpdk-probe-fault", "strict-desc-lim", profile=prof)
    assert run.outcome(BRINGUP) == "failed", run.output
    msg = run.message(BRINGUP).split("\n")[0]
    assert ("queues.rx_desc = 1001: net_ring (net_ring_" in msg and "takes 32..4096 rx descriptors in multiples of 8; "
            "set queues.rx_desc = 1000 (a profile problem)" in msg), msg
    bad = _not_passed(run)
    del bad[BRINGUP]
    _tester_errors_only(bad)  # no second FAIL, no other symptom (no AttributeError, no "link down")
    skipped = {t: m for t, (o, m) in run.verdicts.items() if o == "skipped" and "queues.rx_desc = 1001:" in m}
    assert len(skipped) >= 20, run.output
    assert all("not judgeable: the ports under test did not come up" in m for m in skipped.values())
    assert run.outcome("test_pool_covers_the_pipeline") == "passed"  # checks of the profile alone still judge


def test_descriptor_counts_the_device_takes_bring_the_ports_up(tmp_path):
    run = run_suite(tmp_path, "suites/ports", "--dpdk-probe-fault", "strict-desc-lim")
    assert run.returncode == 0, run.output
    assert run.outcome(BRINGUP) == "passed"


def test_net_tap_with_fewer_tx_than_rx_queues_is_refused_naming_the_key(tmp_path):
    prof = mutated_profile(tmp_path, "tap41", ports__topology="tap", queues__rx=4, queues__tx=1)
    run = run_suite(tmp_path, "suites/ports", profile=prof)
    assert run.returncode == 4, run.output
    assert ("queues.tx: ports.topology = 'tap': net_tap needs as many tx queues as rx queues, the profile asks for "
            "4 rx / 1 tx (tap_dev_configure refuses other counts") in run.output
    assert "set queues.tx = queues.rx = 4" in run.output and not run.verdicts


def test_4_rx_1_tx_on_af_packet_is_sound(tmp_path):
    prof = mutated_profile(tmp_path, "afp41", ports__topology="af_packet", queues__rx=4, queues__tx=1)
    run = run_suite(tmp_path, "suites/ports", profile=prof)
    assert run.outcome(BRINGUP) == "passed", run.output
    for suite in ("suites/mempool", "suites/rss"):  # the exhaustion check's own tap has 4 tx queues too
        res = run_suite(tmp_path, suite, profile=prof)
        _tester_errors_only(_not_passed(res))
        assert res.verdicts, res.output
    assert res.outcome("test_spread_measured[af_packet]") == "passed", res.output


def test_a_pool_at_exactly_the_recommended_minimum_is_sound(tmp_path):
    prof = mutated_profile(tmp_path, "poolmin", mempool__mbufs=4672)  # what test_pool_covers_the_pipeline asks for
    for suite in ("suites/mempool", "suites/rss", "suites/ports"):
        run = run_suite(tmp_path, suite, profile=prof)
        _tester_errors_only(_not_passed(run))
    mp = run_suite(tmp_path, "suites/mempool", "-k", "pipeline or exhaustion", profile=prof)
    assert mp.outcome("test_pool_covers_the_pipeline") == "passed", mp.output
    assert mp.outcome("test_exhaustion_counts_nombuf_and_recovers") == "passed", mp.output


def test_a_tolerance_that_passes_anything_is_refused(tmp_path):
    run = run_suite(tmp_path, "suites/throughput", profile=mutated_profile(tmp_path, "tol1", targets__tolerance=1.0))
    assert run.returncode == 4 and not run.verdicts, run.output
    assert "targets.tolerance: 1 accepts any rate: target x (1 - tolerance) is <= 0" in run.output
    run = run_suite(tmp_path, "suites/throughput",
                    profile=mutated_profile(tmp_path, "tol9999", targets__tolerance=0.9999))
    assert run.returncode == 4, run.output
    assert "targets.tolerance: 0.9999 turns targets.pps[0] (1,000,000 pps at 64 bytes) into >= 100 pps" in run.output


def test_memory_that_cannot_hold_the_pool_and_eal_is_refused(tmp_path):
    run = run_suite(tmp_path, "suites/ports", profile=mutated_profile(tmp_path, "mem23", eal__memory_mb=23))
    assert run.returncode == 4 and not run.verdicts, run.output
    assert "mempool.mbufs: 8191 mbufs of 2176 bytes need at least 24 MB (the pool 20 MB + EAL's own 4 MB) but " \
           "eal.memory_mb is 23" in run.output


def test_an_all_zero_rss_key_warns_and_fails_the_spread_naming_the_key(tmp_path):
    prof = mutated_profile(tmp_path, "zerokey", rss__key="00" * 40)
    run = run_suite(tmp_path, "suites/rss", "-k", "expected_from_configuration", profile=prof)
    assert "dpdk-harness: profile zerokey: rss.key is all zeros" in run.output  # a warning, before anything runs
    test = "test_spread_expected_from_configuration"
    assert run.outcome(test) == "failed", run.output
    msg = run.message(test)
    assert "rss.key is all zeros: the Toeplitz hash of every packet is 0, so every flow lands on the queue of RETA " \
           "entry 0" in msg and "set rss.key to a random 40-byte key" in msg


def test_a_spread_failing_only_its_max_min_ratio_says_so_and_advises_for_it(tmp_path):
    prof = mutated_profile(tmp_path, "ratio", rss__flows=200, rss__max_ratio=1.05)
    run = run_suite(tmp_path, "suites/rss", "-k", "expected_from_configuration", profile=prof)
    test = "test_spread_expected_from_configuration"
    assert run.outcome(test) == "failed", run.output
    msg = run.message(test)
    assert "the max/min ratio failed" in msg and "(ok, expected >= rss.min_p_value 0.01)" in msg
    assert "only the busiest / quietest queue ratio is above rss.max_ratio" in msg and "another rss.key" not in msg


def test_a_pool_socket_the_host_lacks_is_refused_naming_mempool_socket(tmp_path):
    run = run_suite(tmp_path, "suites/mempool", profile=mutated_profile(tmp_path, "socket7", mempool__socket=7))
    assert run.returncode == 4, run.output
    assert "mempool.socket = 7: this host has no NUMA node 7; set mempool.socket = -1" in run.output
