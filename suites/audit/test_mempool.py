"""Mempools of the audited application, as far as its DPDK version's telemetry shows them."""
import pytest

from harness.audit import model
from harness.mempool.model import RTE_MEMPOOL_CACHE_MAX_SIZE

pytestmark = pytest.mark.audit


def test_pool_cache_within_limits(observed, audit_cfg, measure):
    """Steps: /mempool/list, then /mempool/info of each pool (size, cache_size).
    Verify: cache_size within DPDK's limits (<= RTE_MEMPOOL_CACHE_MAX_SIZE, 1.5 x cache <= size), and
    the caches of all lcores (lcores x 1.5 x cache, the flush threshold) hold at most
    audit.max_cache_share of the pool, so one lcore's cache cannot starve the others' rx rings."""
    if not observed.pools:
        pytest.skip(f"{observed.app.label()} has no mempool (/mempool/list is empty)")
    n = max(1, len(observed.threads))
    for p in observed.pools:
        measure(f"{p.name}.size", p.size, unit="mbufs", socket=p.socket_id, elt_size=p.elt_size)
        measure(f"{p.name}.cache_size", p.cache_size, unit="mbufs", target=RTE_MEMPOOL_CACHE_MAX_SIZE, op="<=")
        measure(f"{p.name}.cache_share", n * 1.5 * p.cache_size / p.size if p.size else 0.0, unit="ratio",
                target=audit_cfg.max_cache_share, op="<=", lcores=n)
    problems = observed.pool_errors + model.pool_problems(observed.app, observed.pools, n, audit_cfg.max_cache_share)
    assert not problems, "\n".join(problems)


def test_pool_covers_rx_descriptors(observed, measure):
    """Steps: the rx descriptor count and pool of every rx queue (/ethdev/rx_queue, DPDK 23.11+).
    Verify: each pool holds more mbufs than the descriptors of the queues it fills."""
    if not observed.has("/ethdev/rx_queue"):
        pytest.skip(f"{observed.app.label()} runs {observed.app.dpdk_version}: its telemetry has no "
                    "/ethdev/rx_queue (DPDK 23.11+), so the rx descriptor counts the pool must cover are not "
                    "exposed; rx_nombuf (test_port_counter_rate) shows a pool running dry")
    pytest.skip(f"{observed.app.label()}: /ethdev/rx_queue is served but this harness does not read it yet")


def test_pool_in_use_headroom(observed, measure):
    """Steps: the in-use count of each pool at the end of the window (/mempool/info, DPDK 23.03+).
    Verify: each pool keeps free mbufs (in use < size)."""
    counted = [p for p in observed.pools if p.in_use is not None]
    if not counted:
        pytest.skip(f"{observed.app.label()} runs {observed.app.dpdk_version}: its /mempool/info has no in-use "
                    "count (DPDK 23.03+); rx_nombuf (test_port_counter_rate) shows a pool running dry")
    problems = []
    for p in counted:
        measure(f"{p.name}.in_use", p.in_use, unit="mbufs", target=p.size - 1, op="<=")
        if p.in_use >= p.size:
            problems.append(f"{observed.app.label()}: pool {p.name}: all {p.size} mbufs in use; make it bigger")
    assert not problems, "\n".join(problems)
