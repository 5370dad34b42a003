"""Each RSS spread check FAILS on its broken deployment, naming the cause and the fix; the sound
profile passes.

On the vdev profile the measured spread comes from the kernel (net_tap, net_af_packet), which no
profile key can switch off; so each mutation is a profile whose deployment would spread badly:

* RSS off with several queues (queues.rx = 4, rss.enabled = false): a device then delivers every
  packet to queue 0, and both spread checks judge that distribution;
* a RETA pointing everywhere at queue 0 (rss.reta = [0, 0, 0, 0]): the configuration check places
  the flows through the Toeplitz oracle and that RETA;
* a single flow (rss.flows = 1): whatever hashes it, one flow lands on one queue;
* symmetric RSS asked for with an asymmetric key: the two directions of a flow split.
"""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/rss"
SPREAD_CHECKS = ("test_spread_expected_from_configuration", "test_spread_measured[tap]",
                 "test_spread_measured[af_packet]")


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return run_suite(tmp_path_factory.mktemp("sound"), SUITE)


def test_sound_profile_passes_every_rss_check(sound):
    assert sound.returncode == 0, sound.output
    failed = {t: v for t, v in sound.verdicts.items() if v[0] in ("failed", "error")}
    assert not failed, failed
    for check in SPREAD_CHECKS + ("test_flows_stay_on_one_queue[tap]", "test_every_rx_queue_is_polled[af_packet]",
                                  "test_queue_depth_under_burst[tap]", "test_reference_hash_matches_published_vectors_and_dpdk"):
        assert sound.outcome(check) == "passed", (check, sound.verdicts.get(check))
    # what net_ring cannot do is a SKIP naming the driver, never a pass
    assert sound.outcome("test_device_hash_matches_reference") == "skipped"
    assert "net_ring" in sound.message("test_device_hash_matches_reference")
    assert "net_ring" in sound.message("test_rss_hash_configuration_applied")
    assert "Operation not supported" in sound.message("test_rss_hash_configuration_applied")


def test_rss_off_with_several_queues_fails_the_spread_checks(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "spread",
                    profile=mutated_profile(tmp_path, "rss-off", queues__rx=4, rss__enabled=False))
    for check in SPREAD_CHECKS:
        assert run.outcome(check) == "failed", (check, run.output)
        msg = run.message(check)
        assert "RSS is disabled (rss.enabled = false) with 4 rx queues: queues 1..3 receive nothing" in msg, msg
        assert "set rss.enabled = true" in msg
    assert "per-queue packets [4096, 0, 0, 0] from 1024 flow(s)" in run.message("test_spread_measured[tap]")


def test_reta_all_to_queue_0_fails_the_configured_spread(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "expected_from_configuration",
                    profile=mutated_profile(tmp_path, "reta-zero", queues__rx=4, rss__reta=[0, 0, 0, 0]))
    check = "test_spread_expected_from_configuration"
    assert run.outcome(check) == "failed", run.output
    msg = run.message(check)
    assert "rss.reta = [0, 0, 0, 0] points only at queue 0: queues 1..3 are in no RETA entry" in msg, msg
    assert "list every rx queue, e.g. rss.reta = [0, 1, 2, 3]" in msg
    assert "per-queue flows [1024, 0, 0, 0]" in msg


def test_single_flow_fails_the_spread_checks(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "spread_measured or expected_from_configuration",
                    profile=mutated_profile(tmp_path, "one-flow", rss__flows=1))
    for check in SPREAD_CHECKS:
        assert run.outcome(check) == "failed", (check, run.output)
        msg = run.message(check)
        assert "rss.flows = 1: a single flow always lands on one queue" in msg, msg
        assert "raise rss.flows to at least 20" in msg
    assert "RssFlowsWarning" in run.output  # and the verdict is flagged as not meaningful


def test_symmetric_rss_with_an_asymmetric_key_fails_and_a_symmetric_key_passes(tmp_path):
    bad = run_suite(tmp_path, SUITE, "-k", "symmetric",
                    profile=mutated_profile(tmp_path, "sym-bad", rss__symmetric=True, rss__key=rss_key_hex()))
    assert bad.outcome("test_symmetric_hash_oracle") == "failed", bad.output
    msg = bad.message("test_symmetric_hash_oracle")
    assert "rss.symmetric = true, but with rss.key (6d5a56da255b0ec2...)" in msg and "use a symmetric key" in msg
    good = run_suite(tmp_path, SUITE, "-k", "symmetric",
                     profile=mutated_profile(tmp_path, "sym-good", rss__symmetric=True, rss__key="6d5a" * 20))
    assert good.returncode == 0, good.output
    assert good.outcome("test_symmetric_hash_oracle") == "passed"
    assert good.outcome("test_symmetric_flows_share_a_queue[tap]") == "passed"


def rss_key_hex() -> str:
    from harness.rss.model import DEFAULT_KEY
    return DEFAULT_KEY.hex()
