"""The zero-copy check FAILS when the forward path copies, saying where; the normal path passes."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/zero_copy"


def test_normal_path_is_zero_copy(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "forwarding_is_zero_copy")
    assert run.outcome("test_forwarding_is_zero_copy") == "passed", run.output


def test_copying_probe_fails_naming_the_forwarding_stage(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "forwarding_is_zero_copy", "--probe-fault", "copy-fwd")
    assert run.outcome("test_forwarding_is_zero_copy") == "failed", run.output
    msg = run.message("test_forwarding_is_zero_copy").split("\n")[0]  # the assertion message itself
    assert "the forwarding stage (rx port net_ring_" in msg and "handed on a different mbuf for 512 of 512" in msg
    assert "wire out" not in msg and "wire back" not in msg  # the wire did not copy: only the stage is named
    assert "transmit the mbuf rte_eth_rx_burst returned" in msg
    assert run.properties["probe_fault"] == "copy-fwd"


def test_scatter_profile_runs_the_multi_segment_check(tmp_path):
    prof = mutated_profile(tmp_path, "scatter", mempool__scatter=True, mempool__mtu=9000)
    run = run_suite(tmp_path, SUITE, "-k", "multi_segment", profile=prof)
    assert run.outcome("test_multi_segment_frames_stay_chained") == "passed", run.output
