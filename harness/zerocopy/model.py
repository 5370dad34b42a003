"""Zero-copy verdicts from a run's per-packet trace.

The traced run is ``gen(tx port) -> [wire] -> fwd(rx port -> rx port) -> [wire] -> sink(tx port)``:
task 0 generates, task 1 forwards (the data path under test), task 2 receives. Each record holds
the mbuf and data addresses a task saw for a sequence number, so every hop can be judged: a hop
that hands on a different mbuf (or different data) copied the packet.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.native.defines import define

RX, TX = define("PROBE_TRACE_RX"), define("PROBE_TRACE_TX")  # struct probe_trace_rec.kind
NOT_OURS = (1 << 64) - 1
GEN, FWD, SINK = 0, 1, 2


@dataclass
class Hop:
    name: str
    where: str
    same: int = 0
    copied: int = 0
    example: str = ""

    @property
    def packets(self) -> int:
        return self.same + self.copied


@dataclass
class Analysis:
    packets: int                      # sequence numbers seen at every stage
    hops: list[Hop] = field(default_factory=list)
    intact: int = 0                   # received with the generator's bytes unchanged
    not_intact: int = 0

    @property
    def copies(self) -> int:
        """Packets copied on at least one hop."""
        return max((h.copied for h in self.hops), default=0)

    @property
    def copies_per_packet(self) -> float:
        return sum(h.copied for h in self.hops) / self.packets if self.packets else 0.0


def _by_seq(trace, task, kind):
    tasks = {task} if isinstance(task, int) else set(task)
    out: dict[int, dict] = {}
    for r in trace:
        if r["task"] in tasks and r["kind"] == kind and r["seq"] != NOT_OURS:
            out.setdefault(r["seq"], r)
    return out


def traced_task_ids(queues: int) -> tuple[range, range]:
    """Task indexes of the forwarders and the receivers in a traced run over ``queues`` rx queues:
    ``[gen, fwd q0..qn-1, sink q0..qn-1]`` (a NIC with RSS spreads the generator's flows over
    every queue, so each one is forwarded and received)."""
    return range(FWD, FWD + queues), range(FWD + queues, FWD + 2 * queues)


def analyse(trace: list[dict], *, fwd_where: str, wire_identity: bool, queues: int = 1) -> Analysis:
    """Judge each hop of a traced gen -> fwd -> sink run. ``wire_identity``: the wire itself hands
    over the same mbufs (a ring wire); on a real cable each side's NIC has its own buffers."""
    fwd_ids, sink_ids = traced_task_ids(queues)
    sent, fwd_rx = _by_seq(trace, GEN, TX), _by_seq(trace, fwd_ids, RX)
    fwd_tx, got = _by_seq(trace, fwd_ids, TX), _by_seq(trace, sink_ids, RX)
    seqs = sorted(set(sent) & set(fwd_rx) & set(fwd_tx) & set(got))
    hops = [Hop("forwarding stage", fwd_where)]
    pairs = [(fwd_rx, fwd_tx)]
    if wire_identity:
        hops = ([Hop("wire out", "generator tx -> forwarder rx")] + hops
                + [Hop("wire back", "forwarder tx -> receiver rx")])
        pairs = [(sent, fwd_rx)] + pairs + [(fwd_tx, got)]
    a = Analysis(len(seqs), hops)
    for seq in seqs:
        for hop, (before, after) in zip(hops, pairs):
            b, c = before[seq], after[seq]
            if b["mbuf"] == c["mbuf"] and b["data"] == c["data"]:
                hop.same += 1
            else:
                hop.copied += 1
                if not hop.example:
                    hop.example = (f"seq {seq}: mbuf 0x{b['mbuf']:x} data 0x{b['data']:x} -> "
                                   f"mbuf 0x{c['mbuf']:x} data 0x{c['data']:x}")
        if got[seq]["intact"]:
            a.intact += 1
        else:
            a.not_intact += 1
    return a


def copy_message(a: Analysis) -> str:
    """Where the copies happen, and what to change."""
    parts = [f"the {h.name} ({h.where}) handed on a different mbuf for {h.copied} of {h.packets} packets "
             f"({h.example})" for h in a.hops if h.copied]
    return ("; ".join(parts) + ": it copies each packet; transmit the mbuf rte_eth_rx_burst returned "
            "(no rte_pktmbuf_copy / linearising on the forward path)")
