"""Soak orchestration: traffic on the profile's ports for the whole soak, a sample every few seconds.

Each sampling interval is a full-load window (generator and receivers on the worker lcore). On a
ring wire the window starts with the wire filled to the brim (the generator alone sends exactly
what it holds), so the window's first ``rte_eth_tx_burst`` returns fewer than asked and the
unsent-mbuf path runs too, once per interval: a deployment that leaks only under backpressure
leaks a burst every interval, a slope. The loops record the lowest free count of the pool they see
(the headroom under load, when the wire is fullest). The window ends by draining the wire; then the
pool, the ports and the worker thread are sampled.

rx_nombuf and imissed are accumulated over the full-load windows only (a pulse overfills the rx
side on purpose). Python only starts the C loops, reads counters and sleeps; nothing per packet
crosses into Python. The series and verdicts go to the session for the report.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

from harness import capabilities, traffic
from harness.affinity import native as affinity_native
from harness.mempool.model import next_pow2_minus1
from harness.probe import Run, Task
from harness.profile import mbufs_required
from harness.soak import model
from harness.system import procfs

PROGRESS_EVERY_S = 10.0
PULSE_S = 0.2  # at most this long to fill the wire


def _ports_counters(ports) -> tuple[int, int]:
    stats = [p.stats() for p in ports.ports]
    return sum(s["rx_nombuf"] for s in stats), sum(s["imissed"] for s in stats)


def _ctx(tid: int) -> int:
    try:
        return procfs.read_thread(tid).nonvoluntary
    except (OSError, ValueError):
        return 0


def _fill(ports, pool, worker: int, profile) -> int | None:
    """Fill the (drained) ring wire exactly: topology.build makes it max(1024, rx_desc) deep, EXACT_SZ.
    Returns the lowest free count the filling loop saw (None when there was nothing to fill)."""
    room = max(1024, profile.queues.rx_desc) - ports.pending()
    if not ports.wire or room <= 0:
        return None
    run = Run(worker, [Task.gen(ports.tx)], pool=pool, burst=profile.queues.burst, count=room)
    try:
        run.wait_generated(PULSE_S)
    finally:
        st = run.stop()
    return st.pool_min_avail


def not_judgeable(ports) -> dict[str, str]:
    """The soak's counter checks these ports cannot move (net_ring keeps no imissed): check -> reason."""
    out = {}
    for cap in ("rx_nombuf", "imissed"):
        reason = capabilities.missing(ports, cap)
        if reason:
            out[f"soak_{cap}_rate"] = reason
    return out


def soak(ports, pool, worker: int, profile, duration_s: float, *, say: Callable[[str], None],
         interval_s: float | None = None) -> dict:
    """Run the soak; returns ``{"duration_s", "interval_s", "samples": [...], "checks": [...]}``."""
    interval = interval_s or model.sample_interval(duration_s)
    tid = affinity_native.lcore_thread(worker).tid  # while the worker is idle
    samples: list[model.Sample] = []
    nombuf = missed = rx = tx = 0
    start = time.monotonic()
    last_said = start
    while True:
        window_end = min(start + (len(samples) + 1) * interval, start + duration_s)
        filled_min = _fill(ports, pool, worker, profile)
        before = _ports_counters(ports)
        run = Run(worker, [Task.gen(ports.tx)] + traffic.sink_tasks(ports), pool=pool,
                  burst=profile.queues.burst, flows=profile.rss.flows)
        try:
            time.sleep(max(0.05, window_end - time.monotonic()))
        finally:
            st = run.stop()
        after = _ports_counters(ports)
        nombuf, missed = nombuf + after[0] - before[0], missed + after[1] - before[1]
        rx, tx = rx + st.rx_pkts, tx + st.tx_pkts
        traffic.drain(ports, worker, timeout_s=0.2)
        now = time.monotonic()
        ps = pool.stats()
        samples.append(model.Sample(t=now - start, in_use=ps.in_use - ports.pending(), free=ps.avail,
                                    rx_nombuf=nombuf, imissed=missed, ctx_nonvoluntary=_ctx(tid),
                                    rx_pkts=rx, tx_pkts=tx,
                                    free_min=min(st.pool_min_avail, ps.avail if filled_min is None else filled_min)))
        done = now - start >= duration_s - 0.05
        if now - last_said >= PROGRESS_EVERY_S or done:
            say(model.progress_line(now - start, duration_s, samples))
            last_said = now
        if done:
            break
    leak_noise = (profile.queues.burst + profile.mempool.cache) * len(profile.eal.lcores)
    need = mbufs_required(profile, len(ports.ports), len(profile.eal.lcores))
    pool_fix = (f"set mempool.mbufs >= {need} (e.g. {next_pow2_minus1(need)}), what the rings, bursts and caches "
                "hold" if profile.mempool.mbufs < need else model.POOL_FIX)
    checks = model.verdicts(samples, leak_noise=leak_noise,
                            max_ctx_per_s=float(profile.eal.max_involuntary_ctx_switches_per_s),
                            min_free=profile.queues.burst, pool_fix=pool_fix, not_judgeable=not_judgeable(ports))
    return {"duration_s": duration_s, "interval_s": interval, "samples": [asdict(s) for s in samples],
            "checks": [asdict(c) for c in checks]}
