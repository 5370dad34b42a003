"""RSS hash correctness: the reference hash is right, and the device computes it.

The reference is the Toeplitz hash of the Microsoft RSS specification, implemented in Python
(harness/rss.py) and checked here against the specification's verification vectors and DPDK's
own ``rte_softrss`` before it is used to judge a device.
"""
import pytest

from harness import rss
from harness.errors import ProbeUnsupportedError

HASH_FLOWS = 256
HASH_PKTS = 1024


def test_reference_hash_matches_published_vectors_and_dpdk(eal):
    """Steps: hash the IPv4 and IPv6 vectors of the Microsoft RSS verification suite (the ones in
    DPDK's app/test/test_thash.c) with the Python oracle, and with rte_softrss and rte_softrss_be
    through the probe; hash the profile's flow set both ways too.
    Verify: every hash equals the published value, and the oracle equals rte_softrss on every flow."""
    for dst, dport, src, sport, h_l3, h_l4 in rss.MS_VECTORS_V4 + rss.MS_VECTORS_V6:
        flow = rss.Flow.of(src, dst, sport, dport)
        for l4, want in ((False, h_l3), (True, h_l4)):
            got = {"oracle": rss.flow_hash(flow, rss.DEFAULT_KEY, l4),
                   "rte_softrss": rss.softrss(flow, rss.DEFAULT_KEY, l4=l4),
                   "rte_softrss_be": rss.softrss(flow, rss.DEFAULT_KEY, l4=l4, be=True)}
            wrong = {k: f"{v:#010x}" for k, v in got.items() if v != want}
            assert not wrong, (f"{flow} ({'4-tuple' if l4 else 'addresses'}): expected the published hash "
                               f"{want:#010x}, got {wrong}; the reference hash is broken, no RSS verdict can be "
                               "trusted")
    for flow in rss.harness_flows(64):
        assert rss.flow_hash(flow) == rss.softrss(flow), f"{flow}: the oracle and rte_softrss disagree"


def _fields_of(rss_hf: int) -> str | None:
    return rss.hash_fields(rss.rss_hf_names(rss_hf))


@pytest.mark.requires("rss_hash")
def test_device_hash_matches_reference(ports, pool, profile, harness, measure):
    """Steps: read the rx port's key (rte_eth_dev_rss_hash_conf_get) and RETA (rte_eth_dev_rss_reta_query);
    send 256 flows from the tx port and capture every rx queue, recording per packet its queue,
    mbuf hash and RTE_MBUF_F_RX_RSS_HASH flag.
    Verify: every packet carries a hash; the hash equals the Toeplitz oracle on the packet's flow
    with the deployment's key (rss.key, else the key the port reports); the packet's queue is
    reta[hash % reta_size]."""
    port = ports.rx
    nq = port.info()["nb_rx_queues"]
    if nq <= 1 or not (port.conf and port.conf.rss):
        pytest.skip(f"{port.driver} ({port.name}): RSS not configured ({nq} rx queue(s), rss.enabled = "
                    f"{str(profile.rss.enabled).lower()}); nothing to hash into")
    try:
        rss_hf, key = rss.hash_conf(port)
        rss.apply_profile_reta(ports, profile)
        reta = rss.reta_query(port)
    except ProbeUnsupportedError as exc:
        pytest.skip(f"{port.driver} ({port.name}) cannot report its RSS key or RETA: {exc}")
    if not key:
        pytest.skip(f"{port.driver} ({port.name}) reports no RSS key: the hash cannot be predicted")
    held = key
    if profile.rss.key:  # the deployment chose a key: the device must hash with that one
        key, source = profile.rss.key, "rss.key"
    else:
        source = "the port's key"
    fields = _fields_of(rss_hf)
    flows = rss.harness_flows(HASH_FLOWS)
    d = rss.send_and_capture(ports, harness.worker_lcores(), flows, HASH_PKTS, queues=nq, pool=pool,
                             burst=profile.queues.burst)
    packets = d.result.ours()
    measure("rss_hash_packets", len(packets), unit="pkts")
    assert packets, f"{ports.describe_ports()}: sent {d.sent} frames, none arrived; check the wire"
    no_hash = [p for p in packets if not p.has_hash]
    measure("rss_hash_missing", len(no_hash), unit="pkts", target=0, op="<=")
    assert not no_hash, (f"{port.driver}: expected an RSS hash on every packet (RTE_MBUF_F_RX_RSS_HASH), "
                         f"{len(no_hash)} of {len(packets)} came without; check rss.hash_functions covers IPv4/UDP "
                         "and that the PMD delivers the hash (RTE_ETH_RX_OFFLOAD_RSS_HASH)")
    wrong = []
    for p in packets:
        want = rss.flow_hash(p.flow, key, fields == "l4") if fields else 0
        if p.hash != want:
            wrong.append((p, want))
    measure("rss_hash_mismatches", len(wrong), unit="pkts", target=0, op="<=")
    if wrong:
        p, want = wrong[0]
        other = rss.flow_hash(p.flow, key, fields != "l4")
        hint = (f" (it matches the {'addresses-only' if fields == 'l4' else '4-tuple'} hash: the device hashes "
                f"other fields than rss_hf {rss.rss_hf_names(rss_hf)} say)" if p.hash == other else "")
        if source == "rss.key" and held != key:
            cause = (f"the device does not hash with rss.key: it holds {held.hex()}; check that the PMD "
                     "applies rss.key (rte_eth_dev_configure rss_conf, or rte_eth_dev_rss_hash_update)")
        else:
            cause = "the device does not hash as configured: check the key and hash functions it holds"
        pytest.fail(f"{port.driver}: expected mbuf hash = Toeplitz({source} {key.hex()}, {p.flow}) = {want:#010x}, "
                    f"the device gave {p.hash:#010x}{hint}; {len(wrong)} of {len(packets)} packets differ; {cause}",
                    pytrace=False)
    off = [p for p in packets if p.queue != rss.queue_of(p.hash, reta)]
    measure("rss_queue_mismatches", len(off), unit="pkts", target=0, op="<=")
    assert not off, (f"{port.driver}: expected each packet on queue reta[hash % {len(reta)}]; {len(off)} of "
                     f"{len(packets)} were not (e.g. hash {off[0].hash:#010x} -> expected queue "
                     f"{rss.queue_of(off[0].hash, reta)}, arrived on {off[0].queue}); the RETA read back is not "
                     "the one in use")
