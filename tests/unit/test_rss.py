"""The RSS oracle and spread statistics (harness/rss.py), without root or DPDK."""
import math
import random

import pytest

from harness import rss

VECTORS = rss.MS_VECTORS_V4 + rss.MS_VECTORS_V6


# --------------------------------------------------------------------------- Toeplitz


@pytest.mark.parametrize("vector", VECTORS, ids=[v[2] for v in VECTORS])
def test_toeplitz_gives_the_microsoft_verification_hashes(vector):
    dst, dport, src, sport, h_l3, h_l4 = vector
    flow = rss.Flow.of(src, dst, sport, dport)
    assert rss.toeplitz(rss.DEFAULT_KEY, rss.hash_input(flow, l4=False)) == h_l3
    assert rss.toeplitz(rss.DEFAULT_KEY, rss.hash_input(flow, l4=True)) == h_l4
    assert rss.flow_hash(flow, rss.DEFAULT_KEY, l4=False) == h_l3
    assert rss.flow_hash(flow, rss.DEFAULT_KEY, l4=True) == h_l4


def test_hash_input_is_source_destination_then_ports_in_network_order():
    flow = rss.Flow.of("1.2.3.4", "5.6.7.8", 0x0102, 0x0304)
    assert rss.hash_input(flow) == bytes([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4])
    assert rss.hash_input(flow, l4=False) == bytes([1, 2, 3, 4, 5, 6, 7, 8])
    v6 = rss.Flow.of("::1", "::2", 1, 2)
    assert len(rss.hash_input(v6)) == 36 and len(rss.hash_input(v6, False)) == 32


def test_table_hash_equals_the_bitwise_definition():
    rnd = random.Random(1)
    for _ in range(200):
        key = bytes(rnd.randrange(256) for _ in range(rnd.choice((40, 52))))
        data = bytes(rnd.randrange(256) for _ in range(rnd.choice((8, 12, 32, 36))))
        assert rss.Toeplitz(key, len(data))(data) == rss.toeplitz(key, data)


def test_toeplitz_is_linear_over_gf2():
    rnd = random.Random(2)
    a, b = (bytes(rnd.randrange(256) for _ in range(12)) for _ in range(2))
    x = bytes(i ^ j for i, j in zip(a, b))
    k = rss.DEFAULT_KEY
    assert rss.toeplitz(k, x) == rss.toeplitz(k, a) ^ rss.toeplitz(k, b)
    assert rss.toeplitz(k, bytes(12)) == 0


def test_a_key_too_short_for_the_input_is_refused():
    with pytest.raises(ValueError, match="hashes at most 32 input bytes"):
        rss.toeplitz(rss.DEFAULT_KEY[:36], bytes(36))
    with pytest.raises(ValueError):
        rss.Toeplitz(rss.DEFAULT_KEY[:36], 36)
    with pytest.raises(ValueError, match="36-byte inputs"):
        rss.Toeplitz(rss.DEFAULT_KEY, 36)(bytes(12))


def test_flow_helpers():
    f = rss.Flow.of("198.18.0.1", "198.19.0.1", 1024, 5001)
    assert f.reversed().reversed() == f
    assert f.key() == f.reversed().key()
    assert str(f) == "198.18.0.1:1024 -> 198.19.0.1:5001"
    with pytest.raises(ValueError, match="not of one IP version"):
        rss.Flow.of("1.2.3.4", "::1")


def test_harness_flows_match_the_probe_generator():
    flows = rss.harness_flows(70_000)
    assert len(set(flows)) == 70_000
    assert str(flows[0]) == "198.18.0.0:1024 -> 198.19.0.1:5001"
    assert str(flows[0x1_0001]) == "198.18.0.1:1025 -> 198.19.0.1:5001"
    assert all((f.src & 0xFFFE0000) == rss.FLOW_SRC_NET for f in flows)


# --------------------------------------------------------------------------- symmetric


def _random_flows(n, v6=False, seed=3):
    rnd = random.Random(seed)
    bits = 128 if v6 else 32
    return [rss.Flow(rnd.getrandbits(bits), rnd.getrandbits(bits), rnd.getrandbits(16), rnd.getrandbits(16), v6)
            for _ in range(n)]


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("mode", ["xor", "sort"])
def test_symmetric_toeplitz_hashes_both_directions_alike(mode, v6):
    for f in _random_flows(200, v6):
        for l4 in (False, True):
            assert rss.symmetric_toeplitz(f, rss.DEFAULT_KEY, l4, mode) == \
                rss.symmetric_toeplitz(f.reversed(), rss.DEFAULT_KEY, l4, mode)


def test_symmetric_toeplitz_still_tells_flows_apart():
    hashes = {rss.symmetric_toeplitz(f) for f in _random_flows(500)}
    assert len(hashes) > 490
    with pytest.raises(ValueError, match="symmetric mode"):
        rss.symmetric_toeplitz(_random_flows(1)[0], mode="swap")


def test_plain_toeplitz_with_the_default_key_is_not_symmetric():
    flows = _random_flows(100)
    assert sum(rss.flow_hash(f) != rss.flow_hash(f.reversed()) for f in flows) > 95
    assert not rss.is_symmetric_key(rss.DEFAULT_KEY)


@pytest.mark.parametrize("v6", [False, True])
def test_a_16_bit_periodic_key_makes_plain_toeplitz_symmetric(v6):
    assert rss.is_symmetric_key(rss.SYMMETRIC_KEY) and len(rss.SYMMETRIC_KEY) == 40
    for f in _random_flows(200, v6):
        for l4 in (False, True):
            assert rss.flow_hash(f, rss.SYMMETRIC_KEY, l4) == rss.flow_hash(f.reversed(), rss.SYMMETRIC_KEY, l4)


# --------------------------------------------------------------------------- queues


def test_queue_of_uses_hash_modulo_reta_size():
    reta = [3, 1, 2, 0]
    assert [rss.queue_of(h, reta) for h in range(6)] == [3, 1, 2, 0, 3, 1]
    assert rss.queue_of(0xFFFFFFFF, rss.default_reta(4, 128)) == 127 % 4


def test_default_and_expanded_reta():
    assert rss.default_reta(3, 8) == (0, 1, 2, 0, 1, 2, 0, 1)
    assert rss.expand_reta([0, 2], 5) == (0, 2, 0, 2, 0)
    with pytest.raises(ValueError):
        rss.expand_reta([], 4)


@pytest.mark.parametrize("funcs,fields", [
    (("ipv4", "tcp", "udp"), "l4"), (("ipv4-udp",), "l4"), (("ip",), "l3"), (("ipv4", "tcp"), "l3"),
    (("tcp",), None), (("ipv6", "ipv6-udp"), None), ((), None),
])
def test_hash_fields_of_the_profile_hash_functions(funcs, fields):
    assert rss.hash_fields(funcs) == fields


def test_expected_queues_follow_the_configuration():
    flows = rss.harness_flows(1024)
    reta = rss.default_reta(4)
    qs = rss.expected_queues(flows, queues=4, reta=reta)
    assert [qs.count(q) for q in range(4)] == [256] * 4  # Toeplitz is linear: sequential flows tile evenly
    assert set(rss.expected_queues(flows, queues=4, reta=reta, enabled=False)) == {0}
    assert set(rss.expected_queues(flows, queues=4, reta=[2] + [1] * 127, fields=None)) == {2}
    assert set(rss.expected_queues(flows, queues=4, reta=[0, 0, 0, 0])) == {0}
    assert set(rss.expected_queues(flows, queues=1, reta=reta)) == {0}


def test_queue_plan_gives_every_queue_a_poller():
    assert rss.queue_plan(4, [1]) == {1: [0, 1, 2, 3]}
    assert rss.queue_plan(5, [1, 2]) == {1: [0, 2, 4], 2: [1, 3]}
    assert rss.queue_plan(1, [1, 2, 3]) == {1: [0]}
    with pytest.raises(ValueError, match="no worker lcore"):
        rss.queue_plan(2, [])


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("x,dof,p", [
    (3.841458820694124, 1, 0.05), (6.634896601021214, 1, 0.01), (11.344866730144373, 3, 0.01),
    (7.814727903251178, 3, 0.05), (15.50731305586545, 8, 0.05), (124.34211340400407, 100, 0.05),
])
def test_chi2_sf_matches_tabulated_quantiles(x, dof, p):
    assert rss.chi2_sf(x, dof) == pytest.approx(p, rel=1e-9)


def test_chi2_sf_matches_closed_forms():
    for x in (0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 80.0):
        assert rss.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-10, abs=1e-300)
        for m in (1, 2, 3, 7):  # even dof 2m: exp(-x/2) * sum_{i<m} (x/2)^i / i!
            want = math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(m))
            assert rss.chi2_sf(x, 2 * m) == pytest.approx(want, rel=1e-10, abs=1e-300)


def test_chi2_sf_edges():
    assert rss.chi2_sf(0, 3) == 1.0
    assert rss.chi2_sf(math.inf, 3) == 0.0
    assert rss.chi2_sf(5, 0) == 1.0
    assert 0.0 <= rss.chi2_sf(1e6, 3) < 1e-100
    values = [rss.chi2_sf(x, 5) for x in range(0, 60)]
    assert values == sorted(values, reverse=True)
    with pytest.raises(ValueError):
        rss.gammaincc(0, 1)
    with pytest.raises(ValueError):
        rss.gammaincc(1, -1)


def test_spread_of_an_even_split():
    sp = rss.spread([256, 256, 256, 256], 1024)
    assert sp.p_value == 1.0 and sp.max_min_ratio == 1.0 and sp.chi2 == 0 and sp.dof == 3
    assert not sp.too_few_flows and sp.expected_flows_per_queue == 256


def test_spread_is_judged_per_flow_not_per_packet():
    flows = [240, 270, 250, 264]  # flows per queue
    one = rss.spread(flows, 1024)
    many = rss.spread([n * 16 for n in flows], 1024)  # 16 packets per flow
    assert one.chi2 == pytest.approx(many.chi2) and one.p_value == pytest.approx(many.p_value)
    assert one.chi2 == pytest.approx(sum((n - 256) ** 2 / 256 for n in flows))
    assert one.max_min_ratio == many.max_min_ratio == 270 / 240


def test_spread_with_an_empty_queue_or_no_packets():
    sp = rss.spread([100, 0, 100, 100], 300)
    assert sp.max_min_ratio == math.inf and sp.empty_queues == [1] and sp.p_value < 1e-10
    none = rss.spread([0, 0], 10)
    assert none.p_value == 0 and none.max_min_ratio == math.inf
    single = rss.spread([42], 7)
    assert single.p_value == 1 and single.max_min_ratio == 1
    with pytest.raises(ValueError):
        rss.spread([], 4)
    with pytest.raises(ValueError):
        rss.spread([1, 2], 0)


def test_chi2_false_alarm_rate_matches_the_threshold():
    """A truly uniform random placement fails p >= 0.05 about 5% of the time."""
    rnd = random.Random(11)
    trials, fails = 1000, 0
    for _ in range(trials):
        counts = [0] * 4
        for _ in range(256):
            counts[rnd.randrange(4)] += 1
        fails += rss.spread(counts, 256).p_value < 0.05
    assert 0.03 < fails / trials < 0.07


def test_too_few_flows_rule():
    assert rss.too_few_flows_message(20, 4) is None
    msg = rss.too_few_flows_message(19, 4)
    assert "4.75 flows per queue" in msg and "raise rss.flows to at least 20" in msg
    assert rss.too_few_flows_message(1, 1) is None
    assert rss.spread([5, 4, 5, 5], 19).too_few_flows


# --------------------------------------------------------------------------- verdicts


def _setting(**kw):
    base = dict(queues=4, flows=1024, enabled=True, reta=(), fields="l4", hash_functions=("ipv4", "udp"))
    base.update(kw)
    return rss.SpreadSetting(**base)


def _problems(counts, flows=1024, **kw):
    sp = rss.spread(counts, flows)
    return rss.spread_problems(sp, min_p_value=0.01, max_ratio=1.5, setting=_setting(flows=flows, **kw))


def test_a_good_spread_has_no_problem():
    assert _problems([250, 262, 248, 264]) == []
    assert _problems([1000], flows=10, queues=1) == []


def test_rss_off_is_named_with_its_fix():
    (msg,) = _problems([4096, 0, 0, 0], enabled=False)
    assert "RSS is disabled (rss.enabled = false) with 4 rx queues: queues 1..3 receive nothing" in msg
    assert "set rss.enabled = true" in msg
    assert "per-queue packets [4096, 0, 0, 0] from 1024 flow(s)" in msg
    assert "expected >= rss.min_p_value 0.01" in msg and "expected <= rss.max_ratio 1.5" in msg


def test_a_single_flow_is_named_with_its_fix():
    (msg,) = _problems([0, 4, 0, 0], flows=1)
    assert "rss.flows = 1: a single flow always lands on one queue, so queues 0, 2, 3 receive nothing" in msg
    assert "raise rss.flows to at least 20" in msg
    (msg,) = _problems([0, 4, 4, 0], flows=2)
    assert "rss.flows = 2: 2 flows cannot cover 4 queues" in msg


def test_a_reta_leaving_queues_out_is_named_with_its_fix():
    (msg,) = _problems([1024, 0, 0, 0], reta=(0, 0, 0, 0))
    assert "rss.reta = [0, 0, 0, 0] points only at queue 0: queues 1..3 are in no RETA entry" in msg
    assert "e.g. rss.reta = [0, 1, 2, 3]" in msg
    (msg,) = _problems([512, 0, 512, 0], reta=(0, 2), reta_source="the device's RETA")
    assert "the device's RETA = [0, 2] points only at queues 0, 2: queues 1, 3 are in no RETA entry" in msg


def test_hash_functions_that_miss_the_traffic_are_named():
    (msg,) = _problems([1024, 0, 0, 0], fields=None, hash_functions=("tcp",))
    assert "rss.hash_functions = ['tcp'] do not cover IPv4/UDP" in msg and "add 'udp'" in msg


def test_an_uneven_hash_is_put_down_to_the_hash():
    (msg,) = _problems([400, 200, 212, 212], key_source="rss.key")
    assert "the hash (rss.key, addresses and ports) spreads these 1024 flows unevenly" in msg
    (msg,) = _problems([13, 3, 2, 2], flows=20)
    assert "Note: rss.flows = 20" not in msg  # 5 per queue is enough for the rule
    (msg,) = _problems([10, 2, 3, 1], flows=16)
    assert "Note: rss.flows = 16 over 4 rx queues is 4 flows per queue" in msg


def test_as_deployed_models_rss_off_on_kernel_fed_topologies():
    assert rss.as_deployed([1, 2, 3], enabled=False, device_rss=False) == [6, 0, 0]
    assert rss.as_deployed([1, 2, 3], enabled=True, device_rss=False) == [1, 2, 3]
    assert rss.as_deployed([1, 2, 3], enabled=False, device_rss=True) == [1, 2, 3]  # measured is the truth
    assert rss.as_deployed([5], enabled=False, device_rss=False) == [5]


def _config(**kw):
    base = dict(driver="net_x (p0)", want_hf=rss_hf("ipv4", "udp"), capa_hf=rss_hf("ipv4", "udp", "tcp"),
                read_hf=rss_hf("ipv4", "udp"), want_key=None, read_key=rss.DEFAULT_KEY, key_size=40,
                want_reta=None, read_reta=list(rss.default_reta(4)), reta_size=128, nb_rxq=4)
    base.update(kw)
    return rss.config_problems(**base)


def rss_hf(*names):
    from harness.probe import rss_hf as mask
    return mask(names)


def test_config_as_asked_has_no_problem():
    assert _config() == []
    assert _config(want_key=rss.DEFAULT_KEY, want_reta=[0, 1, 2, 3]) == []


def test_config_differences_are_each_named():
    (msg,) = _config(want_hf=rss_hf("ipv4", "udp", "sctp"))
    assert "asks for hash functions ['ipv4-sctp', 'ipv6-sctp'] that the device does not offer" in msg
    (msg,) = _config(read_hf=rss_hf("ipv4"))
    assert "the port holds ['ipv4'] (missing ['ipv4-udp', 'ipv6-udp'])" in msg
    (msg,) = _config(want_key=rss.SYMMETRIC_KEY)
    assert f"expected RSS key {rss.SYMMETRIC_KEY.hex()}, the port holds {rss.DEFAULT_KEY.hex()}" in msg
    (msg,) = _config(want_key=rss.SYMMETRIC_KEY + bytes(12), key_size=40)
    assert "rss.key is 52 bytes, the device's key is 40 bytes" in msg
    (msg,) = _config(want_reta=[0, 0, 1, 1])
    assert "expected RETA [0, 0, 1, 1, 0, 0, 1, 1" in msg and "first difference at entry 1" in msg
    problems = _config(read_reta=[0, 1, 5, 1] * 32)
    assert any("sends to queue(s) [5] but only 4 rx queues" in p for p in problems)
    assert any("rx queue(s) [2, 3] are in no RETA entry" in p for p in problems)
    (msg,) = _config(read_reta=[0, 1, 2, 3] * 16)
    assert "RETA read back has 64 entries, the device reports 128" in msg


def test_spread_message_says_which_figure_failed_and_advises_for_it():
    sp = rss.spread([260, 250, 245, 180], 1024)   # p fine, busiest / quietest 1.44
    setting = rss.SpreadSetting(queues=4, flows=1024, key_source="rss.key")
    (msg,) = rss.spread_problems(sp, min_p_value=1e-9, max_ratio=1.2, setting=setting)
    assert "the max/min ratio failed" in msg and "p-value failed" not in msg
    assert "(ok, expected >= rss.min_p_value" in msg and "(FAIL, expected <= rss.max_ratio 1.2)" in msg
    assert "only the busiest / quietest queue ratio is above rss.max_ratio" in msg and "another rss.key" not in msg
    (both,) = rss.spread_problems(rss.spread([1000, 10, 10, 4], 1024), min_p_value=0.01, max_ratio=1.5,
                                  setting=setting)
    assert "the chi-square p-value and the max/min ratio failed" in both and "try another rss.key" in both


def test_an_all_zero_key_is_named_as_the_cause():
    zero = bytes(40)
    flows = rss.harness_flows(256)
    queues = rss.expected_queues(flows, queues=4, reta=rss.default_reta(4), key=zero, fields="l4", enabled=True)
    sp = rss.spread([queues.count(q) for q in range(4)], 256)
    assert sp.counts[0] == 256
    (msg,) = rss.spread_problems(sp, min_p_value=0.01, max_ratio=1.5,
                                 setting=rss.SpreadSetting(queues=4, flows=256, key_source="rss.key", key_all_zero=True))
    assert "rss.key is all zeros: the Toeplitz hash of every packet is 0" in msg and "set rss.key to a random" in msg
