"""suites/mempool's rules, failing and passing, without DPDK."""
import pytest

from harness import mempool
from harness.profile import parse_profile


def prof(text=""):
    return parse_profile(text, "p.toml")


def test_pipeline_terms_add_up_and_name_each_term():
    verdict, need, terms = mempool.pool_covers_pipeline(prof("[queues]\nin_flight = 100\n"), 2, 2)
    assert [t.name for t in terms] == ["rx rings", "tx rings", "lcore bursts and caches", "in flight"]
    assert need == 1024 * 2 + 1024 * 2 + (32 + 256) * 2 + 100
    assert verdict.ok


def test_undersized_pool_names_the_number_to_set():
    verdict, need, _ = mempool.pool_covers_pipeline(prof("[mempool]\nmbufs = 2047\n"), 2, 2)
    assert not verdict.ok and need == 4672
    assert "mempool.mbufs = 2047 is below what the pipeline can hold at once: 4672 = rx rings 2048" in verdict.message
    assert "set mempool.mbufs >= 4672 (e.g. 8191)" in verdict.message


@pytest.mark.parametrize("mbufs, cache, ok, text", [
    (8191, 256, True, "within DPDK's limits"),
    (8191, 513, False, "exceeds RTE_MEMPOOL_CACHE_MAX_SIZE (512)"),
    (300, 256, False, "needs 1.5 x cache = 384 <= mempool.mbufs, but mbufs is 300"),
])
def test_cache_rule(mbufs, cache, ok, text):
    v = mempool.cache_verdict(mbufs, cache)
    assert v.ok is ok and text in v.message


def test_pool_shape_advice():
    assert mempool.cache_verdict(8191, 256).advice == ""
    adv = mempool.cache_verdict(8000, 256).advice
    assert "not of the form 2^q - 1; 8191" in adv and "8000 % 256 = 64" in adv


@pytest.mark.parametrize("room, mtu, scatter, ok", [(2176, 1500, False, True), (1024, 1500, False, False),
                                                     (1024, 1500, True, True), (1646, 1500, False, True)])
def test_data_room_rule(room, mtu, scatter, ok):
    v = mempool.data_room_verdict(room, mtu, scatter)
    assert v.ok is ok
    if not ok:
        assert "set mempool.data_room >= 1646 or mempool.scatter = true" in v.message


def test_growth_slope():
    assert mempool.growth_per_s([(t / 10, 100) for t in range(20)]) == 0
    assert mempool.growth_per_s([(t / 10, 100 + 5 * t) for t in range(20)]) == pytest.approx(50)
    assert mempool.next_pow2_minus1(4672) == 8191 and mempool.next_pow2_minus1(8191) == 8191
