"""Soak verdicts on synthetic series: judged on slopes, never on end points."""
import pytest

from harness import capabilities
from harness.errors import UsageError
from harness.report import soak as soak_report
from harness.soak import model
from harness.system import inventory


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


def _series(n=60, dt=2.0, in_use=lambda t: 100, free=lambda t: 8000, nombuf=lambda t: 0, ctx=lambda t: 10 * t,
            missed=lambda t: 0, free_min=lambda t: None):
    return [model.Sample(t=i * dt, in_use=int(in_use(i * dt)), free=int(free(i * dt)), rx_nombuf=int(nombuf(i * dt)),
                         imissed=int(missed(i * dt)), ctx_nonvoluntary=int(ctx(i * dt)), rx_pkts=i * 1000,
                         tx_pkts=i * 1000, free_min=free_min(i * dt))
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


def test_rx_nombuf_names_the_pool_size_to_set_when_the_pool_is_below_the_pipeline():
    """The run passes pool_fix with the number when mempool.mbufs < what the rings, bursts and caches hold:
    rx_nombuf is the same dry pool seen at the rx refill, so it names the same number."""
    fix = "set mempool.mbufs >= 8768 (e.g. 16383), what the rings, bursts and caches hold"
    c = _by_name(model.verdicts(_series(nombuf=lambda t: 3 * t), leak_noise=576, max_ctx_per_s=1000,
                                pool_fix=fix))["soak_rx_nombuf_rate"]
    assert not c.passed and c.message.endswith(f"expected 0/s; {fix}"), c.message


def test_preemption_and_an_empty_pool_fail():
    checks = _by_name(model.verdicts(_series(ctx=lambda t: 2000 * t, free=lambda t: 0 if t == 40 else 10),
                                     leak_noise=576, max_ctx_per_s=1000))
    assert not checks["soak_worker_involuntary_ctx_switches"].passed
    assert not checks["soak_pool_headroom_min"].passed


def test_a_pool_dry_under_load_fails_on_the_loops_low_water_mark_naming_the_fix():
    """Free again after each window's drain (8000), but the worker saw fewer than a burst free under load."""
    samples = _series(free_min=lambda t: 31 if t == 20 else 7000)
    c = _by_name(model.verdicts(samples, leak_noise=576, max_ctx_per_s=1000, min_free=32,
                                pool_fix="set mempool.mbufs >= 4672 (e.g. 8191)"))["soak_pool_headroom_min"]
    assert not c.passed and c.value == 31 and c.target == 32
    assert "fell to 31 under load" in c.message and "in the window ending at 20 s" in c.message
    assert "expected at least 32 (a burst) free" in c.message and "set mempool.mbufs >= 4672 (e.g. 8191)" in c.message
    ample = _series(free_min=lambda t: 7000)
    assert _by_name(model.verdicts(ample, leak_noise=576, max_ctx_per_s=1000, min_free=32))[
        "soak_pool_headroom_min"].passed


@pytest.mark.parametrize("counter", ["imissed", "rx_nombuf"])
def test_a_counter_the_ports_do_not_keep_is_not_judgeable_never_a_pass(counter):
    name = f"soak_{counter}_rate"
    reason = f"net_ring0 (net_ring): net_ring has no {counter} counter"
    checks = _by_name(model.verdicts(_series(), leak_noise=576, max_ctx_per_s=1000, not_judgeable={name: reason}))
    c = checks[name]
    assert c.passed is None and c.message.startswith(f"not judgeable: {reason}"), c
    assert all(v.passed for k, v in checks.items() if k != name)  # the others are judged as before


def test_a_creeping_imissed_fails_where_the_ports_count_it():
    c = _by_name(model.verdicts(_series(missed=lambda t: 5 * t), leak_noise=576, max_ctx_per_s=1000))["soak_imissed_rate"]
    assert not c.passed and c.value == pytest.approx(5) and "raise queues.rx_desc" in c.message


class _Port:
    def __init__(self, name, driver):
        self.name, self.driver = name, driver


class _Topo:
    kind, notes = "nic", {}

    def __init__(self, *drivers):
        self.ports = [_Port(f"p{i}", d) for i, d in enumerate(drivers)]

    def describe_ports(self):
        return ", ".join(f"{p.name} ({p.driver})" for p in self.ports)


def test_net_ring_lacks_the_imissed_and_rx_nombuf_counters_and_says_so():
    ring = _Topo("net_ring", "net_ring")
    assert capabilities.missing(ring, "imissed") == (
        "p0 (net_ring), p1 (net_ring): net_ring has no imissed counter: its stats never count frames it missed")
    assert "net_ring has no rx_nombuf counter: its rx hands on the sender's mbufs" in capabilities.missing(
        ring, "rx_nombuf")


def test_a_nic_pmd_that_counts_them_is_judged(monkeypatch):
    monkeypatch.delenv(inventory.LAB_ENV, raising=False)  # real hardware
    igb = _Topo("net_e1000_igb", "net_e1000_igb")
    assert capabilities.missing(igb, "imissed") is None and capabilities.missing(igb, "rx_nombuf") is None
    # one port without the counter is enough to make the sum unjudgeable
    assert "net_virtio has no imissed counter" in capabilities.missing(_Topo("net_e1000_igb", "net_virtio"), "imissed")


def test_an_emulated_igb_has_rx_nombuf_judged_but_imissed_skipped_naming_the_emulator(monkeypatch):
    # QEMU's igb and e1000e never write MPC: on the lab's guest imissed cannot move, so it is no pass
    monkeypatch.setenv(inventory.LAB_ENV, "igb (QEMU 10.0.2, tcg)")
    for driver in ("net_e1000_igb", "net_e1000_em"):
        why = capabilities.missing(_Topo(driver, driver), "imissed")
        assert why and f"{driver} is emulated, and QEMU's model of it never counts missed frames" in why, why
        assert capabilities.missing(_Topo(driver, driver), "rx_nombuf") is None


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


def test_the_report_says_skip_for_a_check_that_was_not_judged():
    from dataclasses import asdict

    samples = _series(free_min=lambda t: 7000)
    checks = model.verdicts(samples, leak_noise=576, max_ctx_per_s=1000,
                            not_judgeable={"soak_imissed_rate": "net_ring has no imissed counter"})
    html = soak_report.section({"duration_s": 120, "interval_s": 2, "samples": [asdict(s) for s in samples],
                                "checks": [asdict(c) for c in checks]})
    assert "soak_imissed_rate: 0 1/s (target &lt;= 0) SKIP (not judgeable" in html and "FAIL" not in html
