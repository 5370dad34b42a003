"""Symmetric RSS (rss.symmetric = true): both directions of a flow land on the same rx queue,
as a stateful data plane (firewall, NAT, flow monitor) needs."""
import pytest

from harness import rss

SYM_FLOWS = 256


def _needs_symmetric(profile):
    if not profile.rss.symmetric:
        pytest.skip("the profile does not ask for symmetric RSS (rss.symmetric = false)")


def test_symmetric_hash_oracle(profile, harness, measure):
    """Steps: for each profile flow and its reverse, compute the queue with the oracle (a) under
    the symmetric Toeplitz hash (src/dst XOR, and sorted), (b) under plain Toeplitz with the
    deployment's key (rss.key, else the key the device reports).
    Verify: both directions land on one queue in (a); and in (b) where the key is known: on DPDK
    22.11 a port configured through rte_eth_rss_conf hashes with plain Toeplitz, so only a symmetric
    key (e.g. 6d5a repeated) gives symmetric RSS."""
    _needs_symmetric(profile)
    rc = profile.rss
    nq = rss.spread_queue_count(profile)
    fields = rss.hash_fields(rc.hash_functions)
    l4 = fields == "l4"
    reta = rss.expand_reta(rc.reta, rss.DEFAULT_RETA_SIZE) if rc.reta else rss.default_reta(nq)
    flows = rss.harness_flows(min(rc.flows, 4096))
    for mode in ("xor", "sort"):
        bad = [f for f in flows if rss.queue_of(rss.symmetric_toeplitz(f, rss.DEFAULT_KEY, l4, mode), reta)
               != rss.queue_of(rss.symmetric_toeplitz(f.reversed(), rss.DEFAULT_KEY, l4, mode), reta)]
        assert not bad, f"the symmetric Toeplitz oracle ({mode}) is broken: {bad[0]} and its reverse differ"
    key, source = rc.key, "rss.key"
    if key is None and profile.ports.nic_mode:
        key, _, _ = rss.device_key_and_reta(harness.topology().rx)
        source = "the device's key"
    if key is None or fields is None:
        # the PMD's default key is unknown here (or the flows are not hashed): the algorithm check stands
        measure("rss_symmetric_oracle_flows", len(flows), unit="flows",
                key="unknown (PMD default)" if key is None else source)
        return
    asym = [f for f in flows if rss.queue_of(rss.flow_hash(f, key, l4), reta)
            != rss.queue_of(rss.flow_hash(f.reversed(), key, l4), reta)]
    measure("rss_symmetric_split_flows", len(asym), unit="flows", target=0, op="<=", flows=len(flows))
    if asym:
        f = asym[0]
        pytest.fail(
            f"rss.symmetric = true, but with {source} ({key.hex()[:16]}...) {len(asym)} of {len(flows)} flows land on "
            f"different queues in each direction (e.g. {f} -> queue {rss.queue_of(rss.flow_hash(f, key, l4), reta)}, "
            f"reverse -> queue {rss.queue_of(rss.flow_hash(f.reversed(), key, l4), reta)}); use a symmetric key, "
            f'e.g. rss.key = "{rss.SYMMETRIC_KEY.hex()}", or a PMD symmetric Toeplitz hash function', pytrace=False)


def test_symmetric_flows_share_a_queue(rss_target, harness, pool, profile, measure):
    """Steps: send 256 flows in both directions (A->B and B->A) into the target and capture every
    rx queue.
    Verify: for every flow, both directions arrive on the same rx queue."""
    _needs_symmetric(profile)
    flows = rss.harness_flows(SYM_FLOWS)
    both = [g for f in flows for g in (f, f.reversed())]
    d = rss.send_and_capture(rss_target.topo, harness.worker_lcores(), both, len(both) * 2,
                             queues=rss_target.queues, pool=pool, burst=profile.queues.burst)
    by_pair: dict = {}
    for p in d.result.ours():
        by_pair.setdefault(p.flow.key(), set()).add(p.queue)
    split = {k: qs for k, qs in by_pair.items() if len(qs) > 1}
    measure("rss_symmetric_split_flows", len(split), unit="flows", target=0, op="<=", flows=len(by_pair))
    assert d.received == d.sent, f"{rss_target.describe}: sent {d.sent}, received {d.received}"
    assert not split, (f"{rss_target.describe}: expected both directions of each flow on one queue, {len(split)} "
                       f"of {len(by_pair)} flows split (e.g. queues {sorted(next(iter(split.values())))}); set a "
                       f'symmetric key (rss.key = "{rss.SYMMETRIC_KEY.hex()}") or a symmetric hash function')
