"""Latency: the delay frames see at a fixed fraction of the zero-loss rate, against the profile's limits."""
import pytest

from harness import perf
from harness.errors import OverloadedTesterError


def test_latency_within_limits(find_throughput, pps_target, profile, dut_path, worker, pool, measure):
    """Steps: find the NDR of the target's frame size (shared with the NDR check), then offer
    measure.latency_load x NDR for measure.duration_s; the generator stamps 1 frame in perf.LAT_SAMPLE
    and the receiver files each stamped frame's delay (TSC at receive - TSC stamped at send) in a
    log-bucket histogram (< 3.2 % error); loss is counted on every frame.
    Verify: no frame lost at that load, and each percentile in targets.latency_us (p50, p90, p99, p999,
    max) is at most its limit; without limits the figures are recorded and the check is skipped."""
    size, lim = pps_target.frame_size, profile.targets.latency_us
    ndr, _ = perf.median_search(find_throughput(size), 0.0)
    if ndr.rate <= 0 and ndr.tester_overload():
        raise OverloadedTesterError(f"tester overloaded: {size}-byte frames: no zero-loss rate to measure latency at, "
                                    f"since {ndr.tester_overload()}")
    if ndr.rate <= 0:
        pytest.fail(f"{size}-byte frames: no zero-loss rate found through {dut_path.description}, so there is no "
                    "load to measure latency at; see the NDR check", pytrace=False)
    load = ndr.rate * profile.measure.latency_load
    tester = dut_path.tester(worker, pool, burst=profile.queues.burst, flows=profile.rss.flows, frames=size,
                             drain_s=0.05)
    trial = perf.judgeable_trial(lambda: tester.trial(load, profile.measure.duration_s),
                                 what=f"{size}-byte frames at {load:,.0f} pps for latency")
    lat = trial.latency
    assert lat is not None, f"{size}-byte frames: no frame came back at {load:,.0f} pps; nothing to time"
    path = f"{dut_path.description}; frames sent and received by lcore {worker}"
    common = dict(load_pps=round(load), ndr_pps=round(ndr.rate), load_fraction=profile.measure.latency_load,
                  sampled_frames=lat.count, sample_period=lat.sample, frame_size=size, path=path)
    for key in perf.PERCENTILES.keys() | {"max"}:
        measure(f"latency_{key}_us_{size}B", lat.get(key), unit="us", target=lim.get(key), op="<=", **common)
    measure(f"latency_min_us_{size}B", lat.min, unit="us", **common)
    us = 1e6 / trial.tsc_hz
    buckets = ((lo * us, hi * us, n) for i, n in enumerate(trial.hist) if n for lo, hi in [perf.bucket_range(i)])
    measure.histogram(f"latency_us_{size}B", buckets, unit="us", frame_size=size, path=path,
                      frames=lat.count, sample_period=lat.sample, min=lat.min, max=lat.max, load_pps=round(load))
    assert trial.device_lost == 0, (
        f"{size}-byte frames: the device lost {trial.device_lost} of the {trial.attempted} frames handed to it at "
        f"{profile.measure.latency_load:g} x NDR = {load:,.0f} pps ({trial.line()}); expected none below the NDR: "
        "the NDR is not stable, use longer trials (measure.search = \"rfc2544\" or measure.trial_s) or a lower "
        "measure.latency_load")
    assert trial.passes(), (
        f"{size}-byte frames: the generator did not offer {trial.tester_short} of {trial.intended} frames on time at "
        f"{load:,.0f} pps ({trial.line()}) and no pause of its lcore explains it: the load is beyond the tester; "
        "lower measure.latency_load")
    if not lim:
        pytest.skip(f"no [targets.latency_us] in profile {profile.name}: latency measured ({lat.line()}) and "
                    "recorded, nothing to judge; add limits, e.g. p99 = 50.0")
    over = [f"{k} {lat.get(k):.2f} us > {v:g} us" for k, v in lim.items() if lat.get(k) > v]
    assert not over, (
        f"{size}-byte frames at {load:,.0f} pps ({profile.measure.latency_load:g} x NDR) through "
        f"{dut_path.description}: {', '.join(over)} ({lat.line()}); expected every percentile within "
        "targets.latency_us: raise the limits or find what delays frames (burst, queue depth, CPU isolation)")
