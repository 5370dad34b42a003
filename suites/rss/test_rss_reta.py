"""RSS redirection: reprogramming the RETA moves the traffic with it."""
import pytest

from harness import rss
from harness.errors import ProbeUnsupportedError

RETA_FLOWS = 256
RETA_PKTS = 1024


@pytest.mark.requires("rss_hash", "rss_reta")
def test_traffic_follows_reprogrammed_reta(ports, pool, profile, harness, measure):
    """Steps: read the rx port's RETA; program every entry to queue 0, send 256 flows and capture
    every queue; program a subset (the even queues), send again; restore the original RETA.
    Verify: with all entries on queue 0 every packet arrives on queue 0; with the subset every
    packet arrives on a queue of the subset, on reta[hash % size] where the device gives the hash;
    every queue of the subset receives some flows."""
    port = ports.rx
    nq = port.info()["nb_rx_queues"]
    size = port.info()["reta_size"]
    if nq <= 1 or not (port.conf and port.conf.rss):
        pytest.skip(f"{port.driver} ({port.name}): RSS not configured ({nq} rx queue(s)); nothing to redirect")
    try:
        original = rss.reta_query(port, size)
    except ProbeUnsupportedError as exc:
        pytest.skip(f"{port.driver} ({port.name}) cannot report its RETA (missing capability: rss_hash): {exc}")
    flows = rss.harness_flows(RETA_FLOWS)
    subset = list(range(0, nq, 2)) if nq > 2 else [nq - 1]
    try:
        for name, reta in (("all to queue 0", [0] * size), (f"queues {subset}", rss.expand_reta(subset, size))):
            try:
                rss.reta_update(port, reta)
            except ProbeUnsupportedError as exc:
                pytest.skip(f"{port.driver} ({port.name}) cannot update its RETA: {exc}")
            d = rss.send_and_capture(ports, harness.worker_lcores(), flows, RETA_PKTS, queues=nq, pool=pool,
                                     burst=profile.queues.burst)
            counts = d.per_queue
            for q, n in enumerate(counts):
                measure(f"rss_reta_{'all0' if name.startswith('all') else 'subset'}_queue{q}_pkts", n, unit="pkts")
            assert d.received == d.sent, (f"{port.driver}: RETA {name}: sent {d.sent}, received {d.received} "
                                          f"(per queue {counts}); frames lost while redirected")
            stray = {q: n for q, n in enumerate(counts) if n and q not in set(reta)}
            assert not stray, (f"{port.driver}: RETA {name}: expected traffic only on queues {sorted(set(reta))}, "
                               f"measured {stray} elsewhere; the device did not apply the reprogrammed RETA "
                               "(rte_eth_dev_rss_reta_update)")
            hashed = [p for p in d.result.ours() if p.has_hash]
            off = [p for p in hashed if p.queue != rss.queue_of(p.hash, reta)]
            assert not off, (f"{port.driver}: RETA {name}: {len(off)} of {len(hashed)} packets not on "
                             f"reta[hash % {size}] (e.g. hash {off[0].hash:#010x} on queue {off[0].queue}, expected "
                             f"{rss.queue_of(off[0].hash, reta)})")
            idle = [q for q in set(reta) if counts[q] == 0]
            assert not idle, (f"{port.driver}: RETA {name}: queues {idle} are in the RETA but received none of "
                              f"{RETA_FLOWS} flows (per queue {counts})")
    finally:
        rss.reta_update(port, original)
