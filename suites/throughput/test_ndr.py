"""Throughput: the highest rate the deployment forwards without loss (RFC 2544 NDR), per target frame size.

A search of trials: each offers a paced load for the search profile's trial length (``measure.search``:
``ci`` 0.1 s, ``rfc2544`` 60 s) and counts intended, offered and received frames by sequence number;
frames the port refused or the generator could not send on time count as loss.
"""

from harness import perf
from harness.errors import OverloadedTesterError


def _describe_search(res: perf.SearchResult, what: str) -> str:
    bound = (" (the upper bound itself passed: the real rate may be higher)" if res.bounded_by_max else
             f", lowest failing {res.upper:,.0f}" if res.upper else "")
    return f"{what} {res.rate:,.0f} pps{bound}"


def test_zero_loss_rate_meets_target(find_throughput, pps_target, profile, dut_path, search_profile, measure):
    """Steps: through the DUT path (measure.dut: the profile's ports, or dpdk-testpmd over memif), measure
    what the generator offers unpaced (its ceiling; the search's upper bound, capped at the line rate when
    the link speed is known), then search, measure.repeats times, for the highest rate whose trial loses
    nothing (NDR; at targets.loss > 0 the highest rate losing at most that ratio), to the search profile's
    width; also the PDR at measure.pdr_loss.
    Verify: the median rate found >= target x (1 - targets.tolerance); intended, offered and received load
    at that rate are recorded, and every frame offered was received."""
    size, t = pps_target.frame_size, profile.targets
    results = find_throughput(size)
    loss = t.loss
    best, rates = perf.median_search(results, loss)
    what = "zero-loss rate (NDR)" if loss <= 0 else f"rate at loss ratio <= {loss:g}"
    floor = pps_target.pps * (1 - t.tolerance)
    trial = best.best
    ceiling = results[0].ceiling
    extra = dict(frame_size=size, min=round(rates[0]), max=round(rates[-1]), burst=profile.queues.burst,
                 search=search_profile.name, trial_s=search_profile.trial_s, repeats=len(results),
                 trials=sum(r.trials for r in results), dut=dut_path.mode,
                 repeated_for_tester_stalls=sum(len(r.ndr.repeated) for r in results),
                 tester_ceiling=round(ceiling.offered_pps), max_rate=round(results[0].max_rate),
                 path=dut_path.description, tester_lcores=results[0].placement)
    if trial is not None:
        extra.update(intended=trial.intended, offered=round(trial.offered_pps),
                     received=round(trial.received_pps), lost=trial.lost, unsent=trial.unsent)
    if best.bounded_by_max:
        extra["bounded_by"] = "line rate" if results[0].max_rate < ceiling.offered_pps else "tester ceiling"
    measure(f"{'ndr' if loss <= 0 else 'rate_at_loss'}_pps_{size}B", best.rate, unit="pps", target=floor, **extra)
    pdr_searches = [r.pdr for r in results if r.pdr is not None and r.pdr.goal_loss > 0]
    pdrs = [p.rate for p in pdr_searches]
    if pdrs and loss <= 0:
        bound = {"bounded_by": extra["bounded_by"]} if all(p.bounded_by_max for p in pdr_searches) and \
            "bounded_by" in extra else {}
        measure(f"pdr_pps_{size}B", sorted(pdrs)[(len(pdrs) - 1) // 2], unit="pps", frame_size=size,
                loss_ratio=profile.measure.pdr_loss, min=round(min(pdrs)), max=round(max(pdrs)), **bound)
    if best.rate < floor and best.tester_overload(floor):
        raise OverloadedTesterError(
            f"tester overloaded: {size}-byte frames through {dut_path.description}: {_describe_search(best, what)} "
            f"is below {floor:,.0f} pps, but {best.tester_overload(floor)}; nothing is known about the device")
    assert best.rate >= floor, (
        f"{size}-byte frames through {dut_path.description}: {_describe_search(best, what)} "
        f"(min {rates[0]:,.0f}, max {rates[-1]:,.0f} over {len(rates)} searches; tester ceiling "
        f"{ceiling.offered_pps:,.0f} pps), expected >= target {pps_target.describe(t.link_gbps)} - "
        f"{t.tolerance:.0%} = {floor:,.0f} pps; lower the target in the profile or find the bottleneck "
        f"(burst {profile.queues.burst}, lcores {profile.eal.lcores_arg()}, search {search_profile.name})")
    assert trial is not None and trial.received + trial.lost == trial.intended, (
        f"{size}-byte frames: at {best.rate:,.0f} pps intended {trial.intended} frames, received {trial.received} "
        f"and lost {trial.lost}: the counts do not add up (duplicates {trial.dups}); the receiver miscounts")
