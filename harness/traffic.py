"""Standard traffic runs over a topology. The loops are C on a worker lcore; this only composes tasks."""
from __future__ import annotations

import time
from dataclasses import dataclass

from harness.probe import Mempool, Run, RunStats, Task
from harness.topology import Topology


def sink_tasks(topo: Topology) -> list[Task]:
    nq = topo.port_conf.nb_rxq if topo.port_conf else 1
    return [Task.sink(topo.rx, q) for q in range(nq)]


@dataclass
class Delivery:
    """What one exchange over a wire did: intended, offered (taken by tx), received.

    Counts cover the whole run, including frames drained from the wire after it stopped;
    rates cover the measurement window only.
    """
    intended: int
    sent: int
    unsent: int
    received: int
    ours: int
    pending: int
    seconds: float
    stats: RunStats
    rx_pps: float = 0.0
    offered_pps: float = 0.0

    @property
    def lost(self) -> int:
        """Frames offered or attempted that did not arrive as ours; unsent frames count as loss."""
        return max(0, self.sent + self.unsent - self.ours)

    @property
    def loss_ratio(self) -> float:
        attempted = self.sent + self.unsent
        return self.lost / attempted if attempted else 0.0


def drain(topo: Topology, lcore: int, timeout_s: float = 1.0) -> int:
    """Receive and free whatever is still in flight on the rx side; returns our frames drained."""
    run = Run(lcore, sink_tasks(topo))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if topo.pending() == 0 and topo.kind != "nic":
                break
    finally:
        st = run.stop()
    return st.total("rx_ours")


def _delivery(intended: int, st: RunStats, pending: int, seconds: float, drained: int = 0) -> Delivery:
    gen, sinks = st.tasks[0], st.tasks[1:]
    ours = sum(s["rx_ours"] for s in sinks) + drained
    d = Delivery(intended=intended, sent=gen["tx_pkts"], unsent=gen["tx_unsent"],
                 received=sum(s["rx_pkts"] for s in sinks) + drained, ours=ours,
                 pending=pending, seconds=seconds, stats=st)
    if seconds > 0:
        d.rx_pps, d.offered_pps = ours / seconds, gen["tx_pkts"] / seconds
    return d


def exchange(topo: Topology, lcore: int, pool: Mempool, count: int, *, flows: int = 1, frame_size: int = 64,
             burst: int | None = None, rate_pps: int = 0, timeout_s: float = 10.0, flags: int = 0) -> Delivery:
    """Send ``count`` frames on topo.tx and receive on topo.rx (same lcore); wait until all arrived."""
    run = Run(lcore, [Task.gen(topo.tx)] + sink_tasks(topo), pool=pool, burst=burst, frame_size=frame_size,
              flows=flows, count=count, rate_pps=rate_pps, flags=flags)
    t0 = time.monotonic()
    try:
        run.wait_generated(timeout_s)
        deadline = time.monotonic() + min(timeout_s, 2.0)
        while time.monotonic() < deadline:
            st = run.stats()
            if sum(s["rx_ours"] for s in st.tasks[1:]) >= st.tasks[0]["tx_pkts"]:
                break
            time.sleep(0.01)
    finally:
        st = run.stop()
    return _delivery(count, st, topo.pending(), time.monotonic() - t0)


def max_rate(topo: Topology, lcore: int, pool: Mempool, seconds: float, *, flows: int = 1, frame_size: int = 64,
             burst: int | None = None, warmup_s: float = 0.0) -> Delivery:
    """Offer as much as the loop can; rates over ``seconds`` after ``warmup_s``, loss over the whole
    run including what is drained from the wire after it stops."""
    run = Run(lcore, [Task.gen(topo.tx)] + sink_tasks(topo), pool=pool, burst=burst, frame_size=frame_size,
              flows=flows)
    try:
        time.sleep(warmup_s)
        first = run.stats()
        time.sleep(seconds)
        last = run.stats()
    finally:
        final = run.stop()
    pending = topo.pending()
    drained = drain(topo, lcore)
    d = _delivery(final.tasks[0]["tx_pkts"] + final.tasks[0]["tx_unsent"], final, pending, 0.0, drained)
    window = last.elapsed_s - first.elapsed_s
    if window > 0:
        d.seconds = window
        d.rx_pps = (last.total("rx_ours") - first.total("rx_ours")) / window
        d.offered_pps = (last.tasks[0]["tx_pkts"] - first.tasks[0]["tx_pkts"]) / window
    return d
