"""Unit tests of harness.perf without DPDK: line rates, frame patterns, the latency histogram's
buckets and percentiles, trial accounting, testpmd's stats parser, and the NDR/PDR search driven by
model DUTs whose capacity is known."""
from __future__ import annotations

import math
import random

import pytest

from harness import perf
from harness.errors import UsageError
from harness.profile import SEARCHES
from harness.system import procfs, testpmd

# --------------------------------------------------------------------------- line rate and frames


@pytest.mark.parametrize("gbps, frames, pps", [
    (10, 64, 14_880_952.38), (10, 1518, 812_743.82), (1, 64, 1_488_095.24), (25, 64, 37_202_380.95),
    (40, 64, 59_523_809.52), (100, 64, 148_809_523.81), (100, 1518, 8_127_438.23), (400, 64, 595_238_095.24),
    (10, 9000, 138_580.93),
])
def test_line_rate_counts_preamble_and_gap(gbps, frames, pps):
    assert perf.line_rate_pps(gbps, frames) == pytest.approx(pps, abs=0.01)


def test_line_rate_of_imix_uses_the_mean_frame():
    mean = (7 * 64 + 4 * 570 + 1518) / 12
    assert perf.mean_frame_size("imix") == pytest.approx(mean)
    assert perf.line_rate_pps(10, "imix") == pytest.approx(10e9 / ((mean + 20) * 8))
    assert perf.bits_per_second(perf.line_rate_pps(10, "imix"), "imix") == pytest.approx(10e9)
    assert perf.bits_per_second(1e6, 64, on_wire=False) == 512e6


@pytest.mark.parametrize("gbps", [0.5, 401, True, "10", math.nan])
def test_line_rate_refuses_speeds_outside_1_to_400g(gbps):
    with pytest.raises(UsageError, match="out of range 1..400"):
        perf.line_rate_pps(gbps, 64)


def test_frame_patterns():
    assert perf.frame_pattern(64) == (64,)
    assert perf.frame_pattern("1518") == (1518,)
    assert perf.frame_pattern("IMIX") == perf.IMIX and len(perf.IMIX) == 12
    assert perf.frame_pattern("jumbo") == (9000,)
    assert perf.frame_pattern([64, 1518]) == (64, 1518)
    assert [perf.frames_label(f) for f in (64, "imix", perf.IMIX, "jumbo", (64, 128))] == \
        ["64B", "imix", "imix", "jumbo", "64+128B"]
    for bad, msg in [(63, "out of range 64..16000"), (16001, "out of range"), ("mix", "not a size or a pattern"),
                     ((), "give 1..64 sizes"), ((64,) * 65, "give 1..64 sizes"), (True, "out of range")]:
        with pytest.raises(UsageError, match=msg):
            perf.frame_pattern(bad)


# --------------------------------------------------------------------------- latency histogram


def test_histogram_buckets_cover_every_value_with_bounded_error():
    rnd = random.Random(7)
    values = list(range(0, 5000)) + [rnd.getrandbits(rnd.randrange(1, 64)) for _ in range(20000)] + [2**64 - 1]
    last = -1
    for v in sorted(values):
        i = perf.hist_index(v)
        lo, hi = perf.bucket_range(i)
        assert lo <= v < hi, (v, i, lo, hi)
        assert i >= last  # monotonic
        last = i
        if v >= 64:
            assert (hi - lo) / lo <= 1 / 32
    assert perf.hist_index(2**64 - 1) == perf.HIST_BUCKETS - 1
    assert perf.hist_index(63) == 63 and perf.hist_index(64) == 64 and perf.hist_index(128) == 96


def test_percentiles_by_nearest_rank_clamped_to_what_was_seen():
    buckets = [0] * perf.HIST_BUCKETS
    for v in [10] * 50 + [100] * 40 + [1000] * 9 + [100_000]:
        buckets[perf.hist_index(v)] += 1
    assert perf.percentile(buckets, 50) == 10
    assert perf.percentile(buckets, 50.1) == perf.bucket_range(perf.hist_index(100))[1] - 1
    assert perf.percentile(buckets, 99, hi=100_000) == perf.bucket_range(perf.hist_index(1000))[1] - 1
    assert perf.percentile(buckets, 100, hi=100_000) == 100_000  # clamped to the exact max
    assert perf.percentile(buckets, 0.1, lo=10) == 10
    assert perf.percentile([0] * perf.HIST_BUCKETS, 50) is None


def test_latency_summary_in_microseconds():
    hz = 2_000_000_000
    buckets = [0] * perf.HIST_BUCKETS
    cycles = [2000] * 90 + [20000] * 10            # 1 us and 10 us
    for c in cycles:
        buckets[perf.hist_index(c)] += 1
    lat = perf.latency_from(buckets, hz, count=100, lat_min=2000, lat_max=20000, lat_sum=sum(cycles))
    assert lat.count == 100 and lat.min == 1.0 and lat.max == 10.0 and lat.mean == pytest.approx(1.9)
    assert lat.p50 == pytest.approx(1.0, rel=1 / 32) and lat.p90 == pytest.approx(1.0, rel=1 / 32)
    assert lat.p99 == pytest.approx(10.0, rel=1 / 32) and lat.get("p999") == lat.p999 <= lat.max
    assert "p99.9" in lat.line()
    assert perf.latency_from(buckets, hz, count=0, lat_min=0, lat_max=0, lat_sum=0) is None
    assert lat.sample == 1 and lat.line().endswith("us, 100 frames (every frame timed)")


def test_latency_says_it_is_a_sample():
    """lat_count is the stamped frames (1 in the period), and every line that shows it says so."""
    buckets = [0] * perf.HIST_BUCKETS
    buckets[perf.hist_index(2000)] = 625
    lat = perf.latency_from(buckets, 2_000_000_000, count=625, lat_min=2000, lat_max=2000, lat_sum=625 * 2000,
                            sample=16)
    assert lat.sample == 16 and lat.count == 625 and lat.mean == 1.0
    assert lat.sampled() == "625 sampled frames (1 in 16)" and lat.line().endswith("us, 625 sampled frames (1 in 16)")


@pytest.mark.parametrize("period", [1, 2, 16, perf.LAT_SAMPLE_MAX])
def test_latency_sampling_periods_that_c_takes(period):
    assert perf.check_lat_sample(period) == period


@pytest.mark.parametrize("period", [0, 3, 12, -16, perf.LAT_SAMPLE_MAX * 2, 16.0, True, "16"])
def test_latency_sampling_periods_refused(period):
    with pytest.raises(UsageError, match=r"power of two from 1 \(every frame\) to 65536"):
        perf.check_lat_sample(period)


# --------------------------------------------------------------------------- trials


def trial(rate, *, intended=None, attempted=None, sent=None, received=None, duration=1.0, gen_seconds=None,
          slack=0.001) -> perf.TrialResult:
    intended = round(rate * duration) if intended is None else intended
    attempted = intended if attempted is None else attempted
    sent = attempted if sent is None else sent
    return perf.TrialResult(rate=rate, duration=duration, frames="64B", burst=32, intended=intended,
                            attempted=attempted, sent=sent, unsent=attempted - sent,
                            received=sent if received is None else received,
                            gen_seconds=duration if gen_seconds is None else gen_seconds, rate_slack=slack)


def test_unsent_and_ungenerated_frames_count_as_loss():
    t = trial(1000, attempted=990, sent=980, received=975)
    assert (t.ungenerated, t.unsent, t.lost) == (10, 10, 25)
    assert t.loss_ratio == 0.025 and not t.passes() and not t.passes(0.03)  # 990 in 1 s: offered short too
    assert "device 15 of which unsent 10, tester 10 ungenerated" in t.line()
    t = trial(1000, sent=980, received=975)
    assert t.lost == 25 and not t.passes() and t.passes(0.03) and not t.passes(0.02)


def test_a_lossless_trial_offered_too_slowly_does_not_pass():
    ok = trial(1000, gen_seconds=1.0009)
    slow = trial(1000, gen_seconds=1.01)
    assert ok.passes() and not ok.offered_short
    assert slow.lost == 0 and slow.offered_short and not slow.passes()
    assert slow.rate_error == pytest.approx(1 / 1.01 - 1) and "short of intended" in slow.line()


# --------------------------------------------------------------------------- search


class ModelDut:
    """A DUT that forwards ``capacity`` pps and holds ``queue`` frames: a trial above capacity loses
    what the queue cannot absorb; ``noise`` losses strike at random below capacity too."""

    def __init__(self, capacity, *, queue=0, duration=0.1, noise=0.0, seed=1):
        self.capacity, self.queue, self.duration, self.noise = capacity, queue, duration, noise
        self.rnd = random.Random(seed)
        self.rates = []

    def __call__(self, rate):
        self.rates.append(rate)
        intended = round(rate * self.duration)
        can = math.floor(self.capacity * self.duration) + self.queue
        received = min(intended, can)
        if self.noise and self.rnd.random() < self.noise:
            received = max(0, received - 1)
        return trial(rate, intended=intended, received=received, duration=self.duration)


@pytest.mark.parametrize("capacity", [1e3, 123_456, 1e6, 14_880_952])
@pytest.mark.parametrize("width", [0.01, 0.005])
def test_ndr_lands_within_the_width_below_the_capacity(capacity, width):
    dut = ModelDut(capacity)
    res = perf.search(dut, 37e6, width=width, max_trials=40, min_rate=100)
    assert capacity * (1 - width) <= res.rate <= capacity
    assert res.upper is not None and res.upper > capacity and (res.upper - res.rate) <= width * res.upper
    assert res.best.rate == res.rate and not res.exhausted and not res.bounded_by_max
    assert len(res.trials) <= 12  # bracketed from the forwarded rate, not bisected down from 37 Mpps


def test_a_queue_lets_the_search_overshoot_by_what_it_absorbs():
    dut = ModelDut(1e6, queue=64, duration=0.1)
    res = perf.search(dut, 30e6, width=0.01)
    assert 1e6 * 0.99 <= res.rate <= 1e6 + 64 / 0.1


def test_the_upper_bound_passing_ends_the_search():
    dut = ModelDut(50e6)
    res = perf.search(dut, 10e6)
    assert res.rate == 10e6 and res.upper is None and res.bounded_by_max and len(res.trials) == 1


def test_nothing_passes_when_even_the_lowest_rate_loses():
    res = perf.search(ModelDut(0.0), 10e6, min_rate=1e3, max_trials=30)
    assert res.rate == 0.0 and res.best is None and min(t.rate for t in res.trials) == 1e3


def test_pdr_reuses_the_ndr_trials_and_finds_the_higher_rate():
    class Lossy(ModelDut):
        def __call__(self, rate):  # loses 0.1 % at any rate above 1 Mpps, everything beyond 2 Mpps
            self.rates.append(rate)
            n = round(rate * self.duration)
            got = n if rate <= 1e6 else (n - math.ceil(n / 1000) if rate <= 2e6 else round(2e6 * self.duration))
            return trial(rate, intended=n, received=got, duration=self.duration)

    dut = Lossy(0)
    ndr = perf.search(dut, 10e6, width=0.01)
    before = len(dut.rates)
    pdr = perf.search(dut, 10e6, goal_loss=0.005, width=0.01, known=ndr.trials)
    assert 0.99e6 <= ndr.rate <= 1e6 and 1.98e6 <= pdr.rate <= 2e6 / (1 - 0.005)
    assert len(dut.rates) - before < len(pdr.trials)  # it started from the NDR's trials
    assert 10e6 not in dut.rates[before:]              # the upper bound was known to fail


def test_progress_sees_every_trial_with_the_bounds():
    seen = []
    res = perf.search(ModelDut(1e6), 5e6, progress=lambda t, s: seen.append((t.rate, s)))
    assert len(seen) == len(res.trials)
    assert seen[0][1].startswith("FAIL, bounds [-, 5.0000] Mpps")
    assert any(s.startswith("pass") for _, s in seen)


def test_noise_below_capacity_never_yields_a_rate_above_it():
    for seed in range(20):
        dut = ModelDut(1e6, noise=0.3, seed=seed)
        res = perf.search(dut, 8e6, width=0.01, max_trials=30)
        assert res.rate <= 1e6
        assert all(not t.passes() for t in res.trials if t.rate > 1e6)


def test_max_trials_bounds_the_search():
    res = perf.search(ModelDut(1e6), 8e6, width=1e-9, max_trials=5)
    assert len(res.trials) == 5 and res.exhausted


def test_search_refuses_a_zero_upper_bound():
    with pytest.raises(UsageError, match="max_rate 0 must be > 0"):
        perf.search(ModelDut(1), 0)


def test_search_profiles():
    assert set(perf.SEARCH_PROFILES) == set(SEARCHES)
    ci, rfc = perf.SEARCH_PROFILES["ci"], perf.SEARCH_PROFILES["rfc2544"]
    assert ci.trial_s <= 0.1 and rfc.trial_s == 60.0 and rfc.drain_s == 2.0  # RFC 2544 section 26.1
    assert ci.with_trial(None) is ci and ci.with_trial(0.5).trial_s == 0.5 and ci.with_trial(0.5).width == ci.width


def test_median_search_of_repeats():
    def tp(rate):
        s = perf.SearchResult(goal_loss=0.0, rate=rate, upper=rate * 1.01, max_rate=1e7, trials=[], best=None)
        return perf.Throughput(frames="64B", ceiling=trial(0, intended=1), max_rate=1e7, ndr=s)
    best, rates = perf.median_search([tp(3.0), tp(1.0), tp(2.0)])
    assert best.rate == 2.0 and rates == [1.0, 2.0, 3.0]
    assert perf.median_search([tp(3.0), tp(1.0)])[0].rate == 1.0


# --------------------------------------------------------------------------- dpdk-testpmd


STATS = """
  ######################## NIC statistics for port 0  ########################
  RX-packets: 53752224   RX-missed: 3          RX-bytes:  0
  RX-errors: 0
  RX-nombuf:  7
  TX-packets: 53752160   TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:     33227485          Rx-bps:            0
  Tx-pps:     33227400          Tx-bps:            0
  ############################################################################

  ######################## NIC statistics for port 1  ########################
  RX-packets: 5          RX-missed: 0          RX-bytes:  320
  RX-errors: 1
  RX-nombuf:  0
  TX-packets: 4          TX-errors: 2          TX-bytes:  256

  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
"""


def test_testpmd_port_stats_are_parsed_per_port():
    st = testpmd.parse_port_stats(STATS)
    assert st[0] == testpmd.PortStats(rx=53752224, tx=53752160, rx_missed=3, rx_nombuf=7, rx_pps=33227485,
                                   tx_pps=33227400)
    assert (st[1].rx, st[1].tx, st[1].rx_errors, st[1].tx_errors) == (5, 4, 1, 2)
    assert testpmd.parse_port_stats("testpmd> ") == {}


def test_search_repeats_a_trial_the_tester_stalled_and_reports_it():
    """A failing trial whose only shortfall is frames the stalled tester never generated is run again;
    a failing trial with DUT loss, or a shortfall without a stall, still counts."""
    from harness.perf.model import TrialResult, search
    cap, calls = 1_000_000.0, []

    def trial(rate):
        calls.append(rate)
        n = int(rate * 0.1)
        if len(calls) == 2:  # the second trial: the tester's lcore stalled, 1 % of frames never generated
            return TrialResult(rate=rate, duration=0.1, frames="64", burst=32, intended=n, attempted=n - n // 100,
                               sent=n - n // 100, received=n - n // 100, gen_seconds=0.1, gaps=1, gap_max_s=0.002,
                               gap_s=0.002)
        got = n if rate <= cap else int(cap * 0.1)
        return TrialResult(rate=rate, duration=0.1, frames="64", burst=32, intended=n, attempted=n, sent=n,
                           received=got, gen_seconds=0.1)

    res = search(trial, 2 * cap, width=0.01)
    assert len(res.repeated) == 1 and res.repeated[0].tester_stalled
    assert cap * 0.99 <= res.rate <= cap
    dut_loss = TrialResult(rate=1.0, duration=0.1, frames="64", burst=32, intended=100, attempted=99, sent=99,
                           received=98, gen_seconds=0.1, gaps=1)
    no_stall = TrialResult(rate=1.0, duration=0.1, frames="64", burst=32, intended=100, attempted=99, sent=99,
                           received=99, gen_seconds=0.1, gaps=0)
    assert not dut_loss.tester_stalled and not no_stall.tester_stalled


# --------------------------------------------------------------------------- spoiled trials (issue 13)


def _stalled(rate=1e6, *, duration=0.1, ungenerated=0, lost_on_device=0, gaps=3, gap_s=0.005, ext_stall_s=0.0,
             gen_seconds=None):
    n = round(rate * duration)
    attempted = n - ungenerated
    return perf.TrialResult(rate=rate, duration=duration, frames="64B", burst=32, intended=n, attempted=attempted,
                            sent=attempted, received=attempted - lost_on_device, gaps=gaps, gap_s=gap_s,
                            gap_max_s=gap_s, ext_stall_s=ext_stall_s,
                            gen_seconds=duration if gen_seconds is None else gen_seconds, rate_slack=0.001)


def test_a_shortfall_the_stalls_explain_spoils_the_trial():
    t = _stalled(ungenerated=4000)                     # 4000 frames <= 1 Mpps x 5 ms of gaps
    assert not t.passes() and t.tester_short == 4000 and t.device_lost == 0
    assert "generator behind schedule: 4000 of 100000 frames" in t.spoiled()
    assert "(tester loss 4000, device loss 0)" in t.spoiled()
    late = _stalled(gen_seconds=0.103)                 # every frame offered, 3 % late
    assert late.offered_short and late.spoiled() is not None


def test_a_shortfall_no_stall_explains_or_device_loss_is_not_spoiled():
    assert _stalled(ungenerated=9000).spoiled() is None          # more than the 5 ms of gaps explain
    assert _stalled(ungenerated=4000, gaps=0, gap_s=0).spoiled() is None
    assert _stalled(ungenerated=1000, lost_on_device=5).spoiled() is None   # the device lost frames too
    assert _stalled(ungenerated=1000, lost_on_device=5).spoiled(goal_loss=0.01) is not None
    assert _stalled().spoiled() is None                            # nothing wrong at all


def test_device_loss_while_the_external_application_was_preempted_spoils_the_trial():
    t = _stalled(lost_on_device=700, ext_stall_s=0.008)            # 700 <= 1 Mpps x 8 ms
    assert "external application preempted: its threads waited 8.0 ms" in t.spoiled()
    assert _stalled(lost_on_device=700, ext_stall_s=0.0001).spoiled() is None


def test_judgeable_trial_retries_spoiled_trials_then_is_a_tester_error():
    from harness.errors import OverloadedTesterError
    runs = iter([_stalled(ungenerated=4000), _stalled()])
    assert perf.judgeable_trial(lambda: next(runs), what="x").passes()
    with pytest.raises(OverloadedTesterError) as exc:
        perf.judgeable_trial(lambda: _stalled(ungenerated=4000), what="64B latency", retries=2)
    msg = str(exc.value)
    assert msg.startswith("tester overloaded: 64B latency: 3 trial(s) in a row spoiled by the tester")
    assert "tester loss 4000 frames, device loss 0: nothing is known about the device" in msg
    device = _stalled(ungenerated=1000, lost_on_device=10)
    assert perf.judgeable_trial(lambda: device, what="x") is device  # a device loss is judged, not retried


def test_a_search_bounded_by_spoiled_trials_says_the_tester_was_overloaded():
    def trial(rate):
        return _stalled(rate, ungenerated=round(rate * 0.1 * 0.01)) if rate > 5e5 else _stalled(rate)

    res = perf.search(trial, 1e6, width=0.01)
    assert len(res.repeated) == perf.TESTER_STALL_REPEATS and res.spoiled
    assert "failed only because the tester could not keep up" in res.tester_overload()
    assert res.tester_overload(9e5) is not None            # below that floor only spoiled trials failed
    assert res.tester_overload(2e6) is None                # beyond what the tester offers at all: its ceiling
    clean = perf.search(lambda r: _stalled(r, gaps=0, gap_s=0), 1e6)
    assert clean.tester_overload() is None

    def device_too(rate):  # spoiled above 0.5 Mpps, and the device itself loses frames above 0.3 Mpps
        return _stalled(rate, ungenerated=round(rate * 0.001), lost_on_device=1 if rate > 3e5 else 0)

    assert perf.search(device_too, 1e6).tester_overload(9e5) is None

    def bounded(rate):  # the DUT forwards 0.8 Mpps; the one trial at or above 0.79 Mpps the tester spoils
        if rate >= 7.9e5:
            return _stalled(rate, ungenerated=round(rate * 0.1 * 0.01))
        return _stalled(rate, gaps=0, gap_s=0)

    res = perf.search(bounded, 1e6, width=0.01)
    assert res.rate < 7.9e5 <= res.upper and res.upper in [t.rate for t in res.spoiled]
    # a floor between the result and the spoiled bound that cut the search off: the tester's, not the search's
    assert res.tester_overload((res.rate + res.upper) / 2) is not None


def test_run_delay_is_read_from_schedstat_of_the_named_threads(tmp_path):
    for tid, name, delay in ((10, "lcore-worker-1", 3_000_000), (11, "python3", 5_000_000), (12, "lcore-worker-2", 1)):
        d = tmp_path / "42" / "task" / str(tid)
        d.mkdir(parents=True)
        (d / "comm").write_text(name + "\n")
        (d / "schedstat").write_text(f"123456 {delay} 7\n")
    assert procfs.threads_run_delay_s(42, proc_root=str(tmp_path)) == pytest.approx(0.008000001)
    assert procfs.threads_run_delay_s(42, name_prefix="lcore-worker", proc_root=str(tmp_path)) == pytest.approx(0.003000001)
    assert procfs.threads_run_delay_s(43, proc_root=str(tmp_path)) == 0.0  # gone: nothing waited


def test_lcores_waited_counts_the_workers_under_every_name_eal_gives_them(tmp_path, monkeypatch):
    """DPDK 22.11 (this machine's) names its workers rte-worker-N: a reader that only knew lcore-worker-N
    read 0 s whatever the preemption, and no spoiled run was ever retried."""
    names = (("lcore-worker-1", 1_000_000), ("rte-worker-2", 2_000_000), ("dpdk-worker3", 4_000_000),
             ("eal-intr-thread", 8_000_000), ("python3", 16_000_000))
    for tid, (name, delay) in enumerate(names, start=10):
        d = tmp_path / "self" / "task" / str(tid)
        d.mkdir(parents=True)
        (d / "comm").write_text(name + "\n")
        (d / "schedstat").write_text(f"1 {delay} 1\n")
    real = procfs.threads_run_delay_s
    monkeypatch.setattr(procfs, "threads_run_delay_s",
                        lambda pid="self", **kw: real(pid, **{**kw, "proc_root": str(tmp_path)}))
    assert procfs.lcores_waited_s() == pytest.approx(0.007)


# --------------------------------------------------------------------------- spoiled runs that are not trials


def test_a_run_that_lost_frames_while_its_lcores_waited_for_a_cpu_is_spoiled():
    short = perf.RunLoss(intended=2048, offered=2000, received=1990, waited_s=0.004)
    assert (short.tester_short, short.device_lost) == (48, 10)
    assert short.spoiled() == ("58 of 2048 frames missing while the worker lcores waited 4.0 ms for a CPU "
                               "(tester loss 48, device loss 10)")
    assert perf.RunLoss(2048, 2048, 2040, waited_s=0.0005).spoiled() is None   # on its CPU: the device's loss
    assert perf.RunLoss(2048, 2048, 2048, waited_s=0.5).spoiled() is None      # nothing lost: judgeable


def _runs(*outcomes):
    """Fake runs (offered, received, ms off the CPU) against a fake schedstat clock; returns (run, waited_s, calls)."""
    clock, calls = [0.0], []
    todo = list(outcomes)

    def run():
        offered, received, ms = todo.pop(0) if len(todo) > 1 else todo[0]
        clock[0] += ms / 1e3
        calls.append((offered, received))
        return offered, received

    return run, (lambda: clock[0]), calls


def test_judgeable_run_retries_a_spoiled_run_and_returns_the_first_judgeable_one():
    run, waited, calls = _runs((1000, 900, 20.0), (1000, 1000, 30.0))
    assert perf.judgeable_run(run, lambda r: (1000, *r), what="x", waited_s=waited) == (1000, 1000)
    assert len(calls) == 2          # the spoiled run was run again; a clean run is judged even when preempted


def test_judgeable_run_out_of_retries_is_a_tester_error_that_separates_the_losses():
    from harness.errors import OverloadedTesterError
    run, waited, calls = _runs((990, 950, 12.5))
    with pytest.raises(OverloadedTesterError) as exc:
        perf.judgeable_run(run, lambda r: (1000, *r), what="tap: 1000 frames of 64 flows", retries=2, waited_s=waited)
    assert len(calls) == 3
    msg = str(exc.value)
    assert msg.startswith("tester overloaded: tap: 1000 frames of 64 flows: 3 run(s) in a row lost frames while the "
                          "tester was off its CPU, the last: 50 of 1000 frames missing while the worker lcores waited "
                          "12.5 ms for a CPU (tester loss 10, device loss 40): nothing is known about the device"), msg


def test_judgeable_run_does_not_hide_a_loss_with_the_tester_on_its_cpu():
    """A device that loses frames while the pollers had their CPUs is returned at once, for the check to FAIL."""
    run, waited, calls = _runs((1000, 990, 0.2))
    assert perf.judgeable_run(run, lambda r: (1000, *r), what="x", waited_s=waited) == (1000, 990)
    assert len(calls) == 1
