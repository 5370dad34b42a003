"""Each mempool / tx-free check FAILS on its broken deployment, naming the fix; the sound profile passes."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/mempool"


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return run_suite(tmp_path_factory.mktemp("sound"), SUITE)


def test_sound_profile_passes_every_check(sound):
    assert sound.returncode == 0, sound.output
    failed = {t: v for t, v in sound.verdicts.items() if v[0] in ("failed", "error")}
    assert not failed, failed
    assert sound.outcome("test_pool_covers_the_pipeline") == "passed"
    assert sound.outcome("test_unsent_mbufs_are_freed") == "passed"


def test_undersized_pool_fails_the_pipeline_check(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "pipeline",
                    profile=mutated_profile(tmp_path, "undersized", mempool__mbufs=2047))
    assert run.outcome("test_pool_covers_the_pipeline") == "failed", run.output
    msg = run.message("test_pool_covers_the_pipeline")
    assert "mempool.mbufs = 2047 is below what the pipeline can hold at once: 4672" in msg
    assert "set mempool.mbufs >= 4672 (e.g. 8191)" in msg


def test_oversized_cache_fails_the_cache_check(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "cache_within or covers",
                    profile=mutated_profile(tmp_path, "bigcache", mempool__cache=1024))
    assert run.outcome("test_cache_within_dpdk_limits") == "failed", run.output
    assert "mempool.cache = 1024 exceeds RTE_MEMPOOL_CACHE_MAX_SIZE (512)" in run.message("test_cache_within_dpdk_limits")
    # DPDK refused that pool: checks that need it fail at setup naming why, not pass
    assert "cannot be created" not in run.message("test_pool_covers_the_pipeline")


def test_pool_dpdk_refuses_fails_checks_that_need_it(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "hugepage_backed",
                    profile=mutated_profile(tmp_path, "bigcache2", mempool__cache=1024))
    assert run.outcome("test_pool_is_hugepage_backed") == "error", run.output
    assert "the profile's mempool cannot be created" in run.message("test_pool_is_hugepage_backed")


def test_small_data_room_fails_the_data_room_check(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "data_room",
                    profile=mutated_profile(tmp_path, "smallroom", mempool__data_room=1024))
    assert run.outcome("test_data_room_holds_the_largest_frame") == "failed", run.output
    msg = run.message("test_data_room_holds_the_largest_frame")
    assert "mempool.data_room = 1024 leaves 896 bytes" in msg and "frames of up to 1518 bytes" in msg
    assert "set mempool.data_room >= 1646 or mempool.scatter = true" in msg


def test_probe_that_forgets_unsent_mbufs_fails_the_unsent_check(tmp_path):
    run = run_suite(tmp_path, SUITE, "-k", "unsent", "--probe-fault", "leak-unsent")
    assert run.outcome("test_unsent_mbufs_are_freed") == "failed", run.output
    msg = run.message("test_unsent_mbufs_are_freed")
    assert "rte_eth_tx_burst did not take were never freed" in msg and "must" in msg
    assert run.properties["probe_fault"] == "leak-unsent"  # the report says it was deliberately broken


def test_thresholds_dpdk_rejects_stop_the_run_before_traffic(tmp_path):
    run = run_suite(tmp_path, SUITE, profile=mutated_profile(tmp_path, "badthresh", queues__tx_rs_thresh=64))
    assert run.returncode == 4, run.output
    assert "queues.tx_rs_thresh: DPDK requires tx_rs_thresh <= tx_free_thresh" in run.output
    assert not run.verdicts  # nothing ran


def test_pool_outside_hugepages_fails_both_placement_checks(tmp_path):
    prof = mutated_profile(tmp_path, "nohuge", eal__hugepages=False)
    run = run_suite(tmp_path, SUITE, "-k", "hugepage_backed", profile=prof)
    assert run.outcome("test_pool_is_hugepage_backed") == "failed", run.output
    assert "not hugepages (eal.hugepages = false); set eal.hugepages = true" in run.message("test_pool_is_hugepage_backed")
    zc = run_suite(tmp_path, "suites/zero_copy", "-k", "hugepages_with_valid_iova", profile=prof)
    assert zc.outcome("test_buffers_in_hugepages_with_valid_iova") == "failed", zc.output
    assert "not hugepages: set eal.hugepages = true" in zc.message("test_buffers_in_hugepages_with_valid_iova")
