"""Busy-poll efficiency of the polling lcore: cycles per packet and the share of empty polls."""
import pytest

from harness import affinity


def test_busy_poll_efficiency_reported(load_sample, measure):
    """Steps: from the traffic run of the loaded window (generate + receive on the harness's worker for
    measure.duration_s), take the TSC cycles, rx polls, empty rx polls and packets received.
    Verify: the polling lcore polled throughout the window and its counters are consistent (empty polls
    within polls); cycles per packet and the share of empty polls are reported."""
    if load_sample.run_stats is None:
        pytest.skip("no traffic ran on a worker lcore during the loaded window: no poll counters to report")
    bp = affinity.busy_poll(load_sample.traffic_lcore, load_sample.run_stats)
    assert bp.polls > 0, (f"lcore {bp.lcore} never polled its rx queues in {bp.seconds:.2f} s: the worker loop "
                          "is not running on it")
    assert bp.empty_polls <= bp.polls
    if bp.polls:
        measure(f"lcore{bp.lcore}.empty_poll_share", bp.empty_poll_share, unit="ratio", polls=bp.polls,
                empty_polls=bp.empty_polls, loops=bp.loops)
    if bp.rx_pkts == 0:
        pytest.skip(f"lcore {bp.lcore} received no packet in {bp.seconds:.2f} s ({bp.polls} polls, "
                    f"{bp.empty_polls} empty): cycles per packet cannot be computed on these ports")
    measure(f"lcore{bp.lcore}.cycles_per_pkt", bp.cycles_per_pkt, unit="cycles", rx_pkts=bp.rx_pkts,
            tx_pkts=bp.tx_pkts, cycles=bp.cycles, seconds=f"{bp.seconds:.3f}")
