"""Throughput: frames per second delivered over the wire at full offered load, against the profile's targets."""
import statistics

import pytest

from harness import traffic


@pytest.mark.requires("wire")
def test_delivered_rate_meets_target(ports, pool, worker, profile, measure, pps_target):
    """Steps: for the target's frame size, offer as much load as one lcore generates for measure.duration_s,
    receiving on the same lcore; repeat measure.repeats times.
    Verify: the median delivered rate >= target x (1 - tolerance), and loss (unsent counts) <= targets.loss."""
    size, t = pps_target.frame_size, profile.targets
    runs = [traffic.max_rate(ports, worker, pool, profile.measure.duration_s, flows=profile.rss.flows,
                             frame_size=size, burst=profile.queues.burst, warmup_s=profile.measure.warmup_s)
            for _ in range(profile.measure.repeats)]
    rates = sorted(r.rx_pps for r in runs)
    median, loss = statistics.median(rates), max(r.loss_ratio for r in runs)
    floor = pps_target.pps * (1 - t.tolerance)
    measure(f"rx_pps_{size}B", median, unit="pps", target=floor, min=rates[0], max=rates[-1],
            offered=f"{statistics.median(r.offered_pps for r in runs):.0f}", burst=profile.queues.burst)
    measure(f"loss_ratio_{size}B", loss, target=t.loss, op="<=")
    assert median >= floor, (
        f"{size}-byte frames: delivered {median:,.0f} pps (min {rates[0]:,.0f}, max {rates[-1]:,.0f}), "
        f"target {pps_target.pps:,.0f} pps - {t.tolerance:.0%} = {floor:,.0f}; lower the target in the profile "
        f"or find the bottleneck (burst {profile.queues.burst}, lcores {profile.eal.lcores_arg()})")
    assert loss <= t.loss, f"{size}-byte frames: loss ratio {loss:.2e} above targets.loss {t.loss:.2e}"
