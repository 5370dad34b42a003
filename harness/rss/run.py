"""RSS orchestration: send flows into a topology and capture every rx queue; program the profile's RETA.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from harness import topology
from harness.errors import ProbeUnsupportedError
from harness.rss.model import Flow
from harness.rss.native import (
    MAX_QUEUES,
    Capture,
    CaptureResult,
    c_tuples,
    hash_conf,
    inject,
    reta_query,
)


def queue_plan(queues: int, lcores: Sequence[int]) -> dict[int, list[int]]:
    """Every rx queue 0..queues-1 onto a polling lcore, round robin."""
    if not lcores:
        raise ValueError("no worker lcore to poll the rx queues")
    plan: dict[int, list[int]] = {lc: [] for lc in lcores}
    for q in range(queues):
        plan[lcores[q % len(lcores)]].append(q)
    return {lc: qs for lc, qs in plan.items() if qs}


def drain(port, lcore: int, queues: Sequence[int], seconds: float = 0.03) -> int:
    """Poll and free whatever sits in the queues; returns packets drained."""
    cap = Capture(lcore, port, queues, max_pkts=0)
    time.sleep(seconds)
    return cap.stop().stats["rx_pkts"]


@dataclass
class Delivery:
    """Flows sent into a topology and what the capture(s) saw."""

    flows: list[Flow]
    sent: int
    queues: int
    result: CaptureResult
    per_lcore: dict[int, CaptureResult] = field(default_factory=dict)
    plan: dict[int, list[int]] = field(default_factory=dict)

    @property
    def per_queue(self) -> list[int]:
        return self.result.per_queue(self.queues)

    @property
    def received(self) -> int:
        return sum(self.per_queue)


#: frames injected before waiting for the pollers: fits the smallest kernel-side ring
#: (net_af_packet's 512-frame PACKET_RX_RING) even if every frame picks one queue
INJECT_CHUNK = 256


def _paced_inject(topo, flows, count, frame_size, caps, quiet_s) -> int:
    """Inject in chunks of :data:`INJECT_CHUNK`, each once the pollers have taken the one before:
    a poller descheduled on a busy host must not turn into ring overflow (loss) in a spread run."""
    tuples = c_tuples(flows)
    sent = 0
    while sent < count:
        n = min(INJECT_CHUNK, count - sent)
        sent += inject(topo, tuples, n, first=sent, frame_size=frame_size)  # the round robin continues
        deadline = time.monotonic() + max(quiet_s, 0.05) * 4
        while time.monotonic() < deadline and sum(c.stats()["ours"] for c in caps) < sent:
            time.sleep(0.0005)
    return sent


def send_and_capture(topo, lcores: Sequence[int], flows: Sequence[Flow], count: int, *, queues: int, pool=None,
                     burst: int | None = None, frame_size: int = 64, timeout_s: float = 5.0, burst_first: bool = False,
                     reset_stats: bool = False, quiet_s: float = 0.25) -> Delivery:
    """Send ``count`` frames of ``flows`` into ``topo`` and capture every rx queue.

    Kernel-fed topologies are fed from the kernel side; others send from ``topo.tx`` on the first
    capture's lcore. The queues are polled per :func:`queue_plan` over ``lcores``. With
    ``burst_first`` nothing is polled until every frame is sent (a burst against the rings);
    ``reset_stats`` zeroes the ports' counters once the queues are drained, so they count this run.
    """
    plan = queue_plan(queues, list(lcores))
    lcs = list(plan)
    for lc in lcs:
        drain(topo.rx, lc, plan[lc])
    if reset_stats:
        for port in topo.ports:
            try:
                port.reset_stats()
            except ProbeUnsupportedError:
                pass
    caps: dict[int, Capture] = {}
    sent = 0
    try:
        if topo.kernel_fed:
            if burst_first:
                sent = inject(topo, flows, count, frame_size=frame_size)
                time.sleep(0.02)
            for lc in lcs:
                caps[lc] = Capture(lc, topo.rx, plan[lc], max_pkts=count + 1024, burst=burst)
            if not burst_first:
                time.sleep(0.01)
                sent = _paced_inject(topo, flows, count, frame_size, caps.values(), quiet_s)
        else:
            first = lcs[0]
            for lc in lcs:
                tx = dict(tx_port=topo.tx, tx_flows=flows, tx_count=count, pool=pool, frame_size=frame_size,
                          rx_after_tx=burst_first) if lc == first else {}
                caps[lc] = Capture(lc, topo.rx, plan[lc], max_pkts=count + 1024, burst=burst, **tx)
            caps[first].wait_sent(timeout_s)
            sent = caps[first].stats()["tx_pkts"]
        # until everything arrived, or nothing more arrives for quiet_s (frames were dropped)
        deadline = time.monotonic() + timeout_s
        seen, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_seen = sum(c.stats()["ours"] for c in caps.values())
            if now_seen >= sent:
                break
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
            elif time.monotonic() - last_change > quiet_s:
                break
            time.sleep(0.005)
        time.sleep(0.03)  # stragglers
    finally:
        results = {lc: cap.stop() for lc, cap in caps.items()}
    merged = CaptureResult({k: sum(r.stats[k] for r in results.values()) if isinstance(v, int) else v
                            for k, v in next(iter(results.values())).stats.items()} if results else {},
                           [p for r in results.values() for p in r.packets])
    if results:
        for k in ("q_pkts", "q_polls"):
            merged.stats[k] = [sum(r.stats[k][i] for r in results.values()) for i in range(MAX_QUEUES)]
    return Delivery(list(flows), sent, queues, merged, results, plan)


#: rx queues a vdev run spreads over when the profile has one rx queue
DEMO_QUEUES = 4


def spread_queue_count(profile) -> int:
    """rx queues the spread is judged over: the profile's ``queues.rx``; on vdev runs with one rx
    queue, :data:`DEMO_QUEUES` show the spread the profile's RSS settings would give."""
    if profile.ports.nic_mode:
        return profile.queues.rx
    return profile.queues.rx if profile.queues.rx > 1 else DEMO_QUEUES


def device_key_and_reta(port) -> tuple[bytes | None, list[int] | None, list[str]]:
    """The key and RETA ``port`` holds, where its PMD can report them; notes say what it cannot."""
    notes: list[str] = []
    key = reta = None
    try:
        key = hash_conf(port)[1] or None
    except ProbeUnsupportedError as exc:
        notes.append(str(exc))
    try:
        reta = reta_query(port)
    except ProbeUnsupportedError as exc:
        notes.append(str(exc))
    return key, reta, notes


def apply_profile_reta(topo, profile) -> list[str]:
    """Program ``rss.reta`` on the ports that run RSS (what bring-up does; see harness/topology.py)."""
    return topology.apply_profile_reta(topo, profile)


def flows_off_their_queue(delivery: Delivery) -> dict[Flow, set[int]]:
    """Flows whose packets arrived on more than one queue (RSS keeps a flow on one queue)."""
    return {f: qs for f, qs in delivery.result.queues_of_flows().items() if len(qs) > 1}
