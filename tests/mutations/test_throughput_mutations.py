"""Each throughput check FAILS on its broken deployment, with measured vs expected and what to change; the
sound profile passes. Also: a burst of 1 shows in the figures (recorded burst, markedly lower rate)."""
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/throughput"
NDR_64 = "test_zero_loss_rate_meets_target[64B]"


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return run_suite(tmp_path_factory.mktemp("sound"), SUITE)


def test_sound_profile_passes_every_check(sound):
    # on a loaded host a check may end "tester overloaded" (an ERROR: nothing is known); never a FAIL
    failed = sound.judged_failures()
    assert not failed, failed
    for test in (NDR_64, "test_zero_loss_rate_meets_target[1518B]", "test_generator_offers_the_intended_rate",
                 "test_search_finds_a_calibrated_capacity", "test_latency_within_limits[64B]"):  # vdev.toml limits p99
        assert sound.outcome(test) == "passed" or sound.tester_overloaded(test), (test, sound.output)
    # what is skipped on vdevs is skipped with its reason, never passed
    assert "needs one NIC port in PMD internal loopback" in sound.message("test_internal_loopback_returns_every_frame")
    if sound.outcome(NDR_64) == "passed":
        assert float(sound.properties["ndr_pps_64B"]) >= 950_000
    assert sound.properties["ndr_pps_64B.burst"] == "32"


def test_target_above_capacity_fails_with_measured_vs_target(tmp_path):
    prof = mutated_profile(tmp_path, "toohigh", targets__pps=[{"frame_size": 64, "pps": 1e9}])
    run = run_suite(tmp_path, SUITE, "-k", "zero_loss", profile=prof)
    assert run.outcome(NDR_64) == "failed", run.output
    msg = run.message(NDR_64)
    measured = re.search(r"zero-loss rate \(NDR\) ([\d,]+) pps", msg)
    assert measured, msg
    assert float(measured.group(1).replace(",", "")) == pytest.approx(float(run.properties["ndr_pps_64B"]), rel=1e-5)
    assert "expected >= target 1,000,000,000 pps - 5% = 950,000,000 pps" in msg
    assert "lower the target in the profile or find the bottleneck (burst 32" in msg
    assert run.properties["ndr_pps_64B.target"] == ">= 9.5e+08"


def test_line_rate_target_above_capacity_names_the_share(tmp_path):
    prof = mutated_profile(tmp_path, "linerate", targets__link_gbps=400,
                           targets__pps=[{"frame_size": 64, "line_rate": 1.0}])
    run = run_suite(tmp_path, SUITE, "-k", "zero_loss", profile=prof)
    assert run.outcome(NDR_64) == "failed", run.output
    assert "expected >= target 595,238,095 pps (1x the 400G line rate) - 5%" in run.message(NDR_64)


def test_burst_of_one_shows_in_the_figures(sound, tmp_path):
    if sound.tester_overloaded(NDR_64):
        pytest.skip("the sound run's 64-byte NDR is not judgeable (tester overloaded): nothing to compare with")
    prof = mutated_profile(tmp_path, "burst1", queues__burst=1)
    run = run_suite(tmp_path, SUITE, "-k", "zero_loss and 64B", profile=prof)
    assert run.properties["ndr_pps_64B.burst"] == "1", run.output
    one, many = float(run.properties["ndr_pps_64B"]), float(sound.properties["ndr_pps_64B"])
    assert one < 0.7 * many, f"burst 1: {one:,.0f} pps, burst 32: {many:,.0f} pps"


def test_latency_limit_below_what_is_measured_fails(tmp_path):
    prof = mutated_profile(tmp_path, "tightlatency", targets__latency_us={"p50": 0.001, "p99": 0.002})
    run = run_suite(tmp_path, SUITE, "-k", "latency and 64B", profile=prof)
    test = "test_latency_within_limits[64B]"
    assert run.outcome(test) == "failed", run.output
    msg = run.message(test)
    assert "p50 " in msg and "us > 0.001 us" in msg and "p99 " in msg and "us > 0.002 us" in msg
    assert "expected every percentile within targets.latency_us" in msg
    assert run.properties["latency_p99_us_64B.target"] == "<= 0.002"
