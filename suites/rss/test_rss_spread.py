"""RSS spread: the profile's flows spread evenly over the rx queues its lcores poll.

The verdict is per flow, since RSS places flows, not packets: a chi-square goodness-of-fit
p-value against an even spread (at least ``rss.min_p_value``) and the busiest / quietest queue
ratio (at most ``rss.max_ratio``), reported with the flow count. Fewer than 5 expected flows per
queue make the chi-square meaningless: the check then warns (RssFlowsWarning) and says so.
"""
import pytest

from harness import rss
from harness.errors import ProbeUnsupportedError


def _setting(profile, queues, *, reta, reta_source, key_source, key=None):
    return rss.SpreadSetting(queues=queues, flows=profile.rss.flows, enabled=profile.rss.enabled,
                             reta=tuple(reta), reta_source=reta_source,
                             fields=rss.hash_fields(profile.rss.hash_functions),
                             hash_functions=tuple(profile.rss.hash_functions), key_source=key_source,
                             key_all_zero=key is not None and not any(key))


def _record(measure, prefix, sp, profile, unit, spread_by):
    for q, n in enumerate(sp.counts):
        measure(f"{prefix}queue{q}_{unit}", n, unit=unit)
    measure(f"{prefix}flows", sp.flows, unit="flows")
    measure(f"{prefix}chi2_p", sp.p_value, target=profile.rss.min_p_value, op=">=", chi2=f"{sp.chi2:.4g}",
            dof=sp.dof, flows=sp.flows, spread_by=spread_by)
    measure(f"{prefix}max_min_ratio", sp.max_min_ratio, target=profile.rss.max_ratio, op="<=", flows=sp.flows)


def test_spread_expected_from_configuration(harness, pool, profile, measure, flows_rule):
    """Steps: take the profile's flow set (rss.flows flows of 198.18.0.0/15 UDP), its key (rss.key,
    else the key the device reports, else the Microsoft default key), its RETA (rss.reta repeated
    over the RETA size, else the device's RETA, else entry i -> queue i % queues) and the fields
    rss.hash_functions hash; place every flow with the Toeplitz oracle: queue = reta[hash % size].
    Verify: flows per queue pass the chi-square (p >= rss.min_p_value) and the max/min ratio
    (<= rss.max_ratio); too few flows per queue give a warning."""
    rc = profile.rss
    nq = rss.spread_queue_count(profile)
    if nq <= 1:
        pytest.skip(f"queues.rx = {profile.queues.rx}: one rx queue, nothing to spread")
    if profile.queues.rx == 1 and not rc.enabled:
        pytest.skip("queues.rx = 1 and rss.enabled = false: one rx queue and RSS off, nothing to spread")
    dev_key = dev_reta = None
    key_source = "the Microsoft default key"
    if profile.ports.nic_mode:
        topo = harness.topology()
        rss.apply_profile_reta(topo, profile)
        dev_key, dev_reta, _ = rss.device_key_and_reta(topo.rx)
    key = rc.key or dev_key or rss.DEFAULT_KEY
    if rc.key:
        key_source = "rss.key"
    elif dev_key:
        key_source = "the device's key"
    if rc.reta:
        size = len(dev_reta) if dev_reta else max(rss.DEFAULT_RETA_SIZE, len(rc.reta))
        reta, reta_source = rss.expand_reta(rc.reta, size), "rss.reta"
        shown = tuple(rc.reta)
    elif dev_reta:
        reta, reta_source, shown = tuple(dev_reta), "the device's RETA", tuple(dev_reta)
    else:
        reta, reta_source = rss.default_reta(nq), "the default RETA"
        shown = reta
    flows = rss.harness_flows(rc.flows)
    fields = rss.hash_fields(rc.hash_functions)
    queues = rss.expected_queues(flows, queues=nq, reta=reta, key=key, fields=fields, enabled=rc.enabled)
    sp = rss.spread([queues.count(q) for q in range(nq)], rc.flows)
    _record(measure, "rss_expected_", sp, profile, "flows", f"Toeplitz oracle ({key_source}, {reta_source})")
    flows_rule(rc.flows, nq)
    problems = rss.spread_problems(sp, min_p_value=rc.min_p_value, max_ratio=rc.max_ratio, unit="flows",
                                   what=f"the profile's configuration over {nq} rx queues, placed by the Toeplitz "
                                        f"oracle ({key_source}, {reta_source})",
                                   setting=_setting(profile, nq, reta=shown, reta_source=reta_source,
                                                    key_source=key_source, key=key))
    if problems:
        pytest.fail(problems[0], pytrace=False)


def test_spread_measured(rss_target, spread_run, profile, measure, flows_rule):
    """Steps: send rss.flows flows (4 frames each) into the target, poll every rx queue on the
    worker lcores and count our frames per queue. On kernel-fed vdevs the kernel's flow hash
    spreads; a deployment with RSS disabled would get everything on queue 0, and that is what is
    judged when rss.enabled = false.
    Verify: every frame sent arrives; per-queue packets pass the chi-square (p >= rss.min_p_value,
    on flows) and the max/min ratio (<= rss.max_ratio); too few flows per queue give a warning."""
    d, rc = spread_run, profile.rss
    assert d.received == d.sent, (
        f"{rss_target.describe}: sent {d.sent} frames of {len(d.flows)} flows, received {d.received} "
        f"(per queue {d.per_queue}); frames were lost before the spread could be judged: check the rx "
        "descriptors (queues.rx_desc) and that every queue is polled")
    counts = rss.as_deployed(d.per_queue, enabled=rc.enabled, device_rss=rss_target.device_rss)
    sp = rss.spread(counts, len(d.flows))
    _record(measure, "rss_", sp, profile, "pkts",
            "device RSS" if rss_target.device_rss else
            "kernel flow hash (the profile's key and RETA are judged by test_spread_expected_from_configuration)")
    flows_rule(len(d.flows), rss_target.queues)
    reta = tuple(rc.reta) if rss_target.device_rss else ()
    problems = rss.spread_problems(
        sp, min_p_value=rc.min_p_value, max_ratio=rc.max_ratio, what=f"{rss_target.describe}: measured",
        setting=_setting(profile, rss_target.queues, reta=reta, reta_source="rss.reta",
                         key_source="rss.key" if rc.key else "the device's key" if rss_target.device_rss
                         else "the kernel's flow hash",
                         key=rc.key if rss_target.device_rss else None))
    if problems:
        pytest.fail(problems[0], pytrace=False)


def test_flows_stay_on_one_queue(rss_target, spread_run):
    """Steps: from the spread run, group the captured frames by flow (source address and port read
    from each frame).
    Verify: all frames of a flow arrive on one rx queue (RSS keeps a flow's packets in order)."""
    scattered = rss.flows_off_their_queue(spread_run)
    some = ", ".join(f"{f} on queues {sorted(qs)}" for f, qs in list(scattered.items())[:3])
    assert not scattered, (
        f"{rss_target.describe}: expected every flow on one rx queue, {len(scattered)} of "
        f"{len(spread_run.flows)} flows arrived on several ({some}); the device reorders flows: check "
        "that nothing but RSS (flow rules, rollover) steers packets")


def test_every_rx_queue_is_polled(rss_target, spread_run, eal, measure):
    """Steps: assign every rx queue to a worker lcore (round robin), poll them all during the spread
    run; read the port's per-queue counters.
    Verify: each configured rx queue was polled; no frame was left on a queue nobody polls (what
    arrived equals what was sent); where the port counts per queue, its counts equal what the
    pollers received."""
    d = spread_run
    polled = {q for qs in d.plan.values() for q in qs}
    measure("rss_polling_lcores", len(d.plan), unit="lcores")
    missing = sorted(set(range(rss_target.queues)) - polled)
    assert not missing, (f"{rss_target.describe}: rx queues {missing} are polled by no lcore "
                         f"(plan {d.plan}); give eal.lcores enough workers")
    never = [q for q in range(rss_target.queues) if d.result.stats["q_polls"][q] == 0]
    assert not never, f"{rss_target.describe}: rx queues {never} were never polled during the run"
    assert d.received == d.sent, (
        f"{rss_target.describe}: expected all {d.sent} frames received, the pollers got {d.received} "
        f"(per queue {d.per_queue}); frames stranded on a queue nobody drains, or lost")
    try:
        qstats = rss_target.port.stats()["q_ipackets"]
    except ProbeUnsupportedError:
        return
    polled_counts = d.result.stats["q_pkts"][:min(16, rss_target.queues)]
    if any(qstats[:len(polled_counts)]):
        assert list(qstats[:len(polled_counts)]) == list(polled_counts), (
            f"{rss_target.describe}: the port counts {list(qstats[:len(polled_counts)])} packets per rx queue, "
            f"the pollers received {polled_counts}; packets were left on a queue or counted twice")
