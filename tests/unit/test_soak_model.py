"""Soak verdicts on synthetic series: judged on slopes, never on end points."""
import pytest

from harness.errors import UsageError
from harness.report import soak as soak_report
from harness.soak import model


@pytest.mark.parametrize("text, seconds", [("2m", 120), ("1h", 3600), ("90s", 90), ("90", 90), ("1.5m", 90),
                                           (" 10 min ", 600)])
def test_durations(text, seconds):
    assert model.parse_duration(text) == seconds


@pytest.mark.parametrize("text, needle", [("soon", "is not a duration; write e.g. --dpdk-soak 2m"),
                                          ("5s", "outside 10s..7d"), ("8d", "not a duration"),
                                          ("x" * 100_000, "is not a duration")])
def test_bad_durations_name_the_fix(text, needle):
    with pytest.raises(UsageError) as info:
        model.parse_duration(text)
    assert needle in str(info.value) and len(str(info.value)) < 200


def _series(n=60, dt=2.0, in_use=lambda t: 100, free=lambda t: 8000, nombuf=lambda t: 0, ctx=lambda t: 10 * t):
    return [model.Sample(t=i * dt, in_use=int(in_use(i * dt)), free=int(free(i * dt)), rx_nombuf=int(nombuf(i * dt)),
                         imissed=0, ctx_nonvoluntary=int(ctx(i * dt)), rx_pkts=i * 1000, tx_pkts=i * 1000)
            for i in range(n)]


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_steady_soak_passes_every_check():
    checks = _by_name(model.verdicts(_series(), leak_noise=576, max_ctx_per_s=1000))
    assert all(c.passed for c in checks.values()), checks
    assert checks["soak_worker_involuntary_ctx_switches"].value == pytest.approx(10)


def test_a_slow_leak_fails_on_the_slope_naming_the_fix():
    checks = _by_name(model.verdicts(_series(in_use=lambda t: 100 + 16 * t), leak_noise=576, max_ctx_per_s=1000))
    leak = checks["soak_mbufs_in_use_slope"]
    assert not leak.passed and leak.value == pytest.approx(16, rel=0.01)
    assert "a slow leak; find the path that drops mbufs without freeing them" in leak.message


def test_one_spike_at_the_end_is_not_a_leak():
    spike = _series(in_use=lambda t: 100 if t < 118 else 600)  # an end-point verdict would call this a leak
    assert _by_name(model.verdicts(spike, leak_noise=576, max_ctx_per_s=1000))["soak_mbufs_in_use_slope"].passed


def test_a_creeping_rx_nombuf_fails_on_its_rate():
    checks = _by_name(model.verdicts(_series(nombuf=lambda t: 3 * t), leak_noise=576, max_ctx_per_s=1000))
    c = checks["soak_rx_nombuf_rate"]
    assert not c.passed and c.value == pytest.approx(3) and "raise mempool.mbufs" in c.message


def test_preemption_and_an_empty_pool_fail():
    checks = _by_name(model.verdicts(_series(ctx=lambda t: 2000 * t, free=lambda t: 0 if t == 40 else 10),
                                     leak_noise=576, max_ctx_per_s=1000))
    assert not checks["soak_worker_involuntary_ctx_switches"].passed
    assert not checks["soak_pool_headroom_min"].passed


def test_too_few_samples_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="at least 3 samples"):
        model.verdicts(_series(n=2), leak_noise=576, max_ctx_per_s=1000)


def test_the_report_section_charts_every_series_with_its_trend():
    samples = _series(in_use=lambda t: 100 + 16 * t)
    checks = model.verdicts(samples, leak_noise=576, max_ctx_per_s=1000)
    from dataclasses import asdict

    html = soak_report.section({"duration_s": 120, "interval_s": 2, "samples": [asdict(s) for s in samples],
                                "checks": [asdict(c) for c in checks]})
    assert html.count("<svg") == len(soak_report.CHARTS)
    assert "least-squares trend" in html and "soak_mbufs_in_use_slope: 16 mbufs/s" in html and "FAIL" in html
    assert soak_report.section(None) == ""
