"""The Python face of harness/native/rss.c, and the area's only caller of the probe's ``lib``:
``rte_softrss`` on a tuple, a port's hash configuration and RETA, a capture loop on a worker lcore
that records the queue and hash of every received packet into an array Python owns, and a
kernel-side injector of flows.
"""
from __future__ import annotations

import errno
import struct
import time
from dataclasses import dataclass, field
from typing import Sequence

from harness.errors import ProbeUnsupportedError, UsageError, check
from harness.native.defines import define
from harness.probe import (
    Loop,
    burst_or_session,
    ffi,
    require_lib,
    struct_to_dict,
)
from harness.rss.model import DEFAULT_KEY, Flow

# --------------------------------------------------------------------------- the probe (C)


L4, BE = define("PROBE_RSS_L4"), define("PROBE_RSS_BE")
F_RX_AFTER_TX = define("PROBE_RSS_F_RX_AFTER_TX")
PKT_FORMAT = "=IIIHHHBB"  # struct probe_rss_pkt
MAX_QUEUES = define("PROBE_MAX_QUEUES")  # queues a capture polls (struct probe_rss_capture_stats.q_pkts)


def _c_tuple(flow: Flow, out) -> None:
    n = flow.addr_len
    out.ipv6 = int(flow.ipv6)
    out.src[0:n] = flow.src.to_bytes(n, "big")
    out.dst[0:n] = flow.dst.to_bytes(n, "big")
    out.sport, out.dport = flow.sport, flow.dport


def c_tuples(flows: Sequence[Flow]):
    """``struct probe_rss_tuple[]`` of the flows (keep the result alive while C reads it)."""
    arr = ffi.new("struct probe_rss_tuple[]", len(flows))
    for i, f in enumerate(flows):
        _c_tuple(f, arr[i])
    return arr


def softrss(flow: Flow, key: bytes = DEFAULT_KEY, *, l4: bool = True, be: bool = False) -> int:
    """DPDK's ``rte_softrss`` (or ``rte_softrss_be`` on the converted key) on one flow, through the probe."""
    lib = require_lib()
    t = ffi.new("struct probe_rss_tuple *")
    _c_tuple(flow, t)
    out = ffi.new("uint32_t *")
    kbuf = ffi.new("uint8_t[]", bytes(key))
    check(lib.probe_rss_softrss(t, (L4 if l4 else 0) | (BE if be else 0), kbuf, len(key), out),
          f"rte_softrss({flow}, {len(key)}-byte key)")
    return out[0]


def hash_conf(port) -> tuple[int, bytes]:
    """(rss_hf, key) the port holds (rte_eth_dev_rss_hash_conf_get); ProbeUnsupportedError if it cannot say."""
    out = ffi.new("struct probe_rss_hash_conf *")
    check(require_lib().probe_rss_hash_conf_get(port.id, out),
          f"rte_eth_dev_rss_hash_conf_get(port {port.id}, {port.driver})")
    return out.rss_hf, bytes(out.key[0:out.key_len])


def hash_update(port, rss_hf: int, key: bytes = b"") -> None:
    c = ffi.new("struct probe_rss_hash_conf *")
    c.rss_hf = rss_hf
    if key:
        c.key[0:len(key)] = key
        c.key_len = len(key)
    check(require_lib().probe_rss_hash_update(port.id, c),
          f"rte_eth_dev_rss_hash_update(port {port.id}, {port.driver})")


def reta_query(port, size: int | None = None) -> list[int]:
    """The port's RETA (rte_eth_dev_rss_reta_query); ProbeUnsupportedError where the PMD has none."""
    size = size if size is not None else port.info()["reta_size"]
    if not size:
        raise ProbeUnsupportedError(errno.ENOTSUP, f"RETA of port {port.id} ({port.driver}): the device reports no "
                                        "redirection table (reta_size 0)")
    arr = ffi.new("uint16_t[]", size)
    check(require_lib().probe_rss_reta_query(port.id, arr, size),
          f"rte_eth_dev_rss_reta_query(port {port.id}, {port.driver})")
    return list(arr)


def reta_update(port, reta: Sequence[int]) -> None:
    """Program ``reta`` as the port's RETA (the generic Port face does it: bring-up programs rss.reta too)."""
    port.set_reta(reta)


def inject(topo, flows, count: int, *, first: int = 0, frame_size: int = 64) -> int:
    """Send ``count`` frames into a kernel-fed topology's rx port, frame i of flow
    ``flows[(first + i) % len(flows)]``. ``flows``: a list of :class:`Flow`, or :func:`c_tuples` of one."""
    if not topo.kernel_fed:
        raise UsageError(f"topology {topo.kind} is not fed from the kernel")
    tuples = flows if isinstance(flows, ffi.CData) else c_tuples(flows)
    n = len(tuples)
    path = f"/run/netns/{topo.netns}" if topo.netns else ""
    lib = require_lib()
    return check(lib.probe_rss_inject(topo.kernel_if.encode(), path.encode(), tuples, n, first, count, frame_size),
                 f"inject {count} frames of {n} flows on {topo.kernel_if}")


@dataclass(frozen=True)
class Packet:
    """One received packet as the capture recorded it."""

    queue: int
    hash: int
    has_hash: bool
    ours: bool
    flow: Flow


@dataclass
class CaptureResult:
    stats: dict
    packets: list[Packet] = field(default_factory=list)

    def ours(self) -> list[Packet]:
        return [p for p in self.packets if p.ours]

    def per_queue(self, queues: int) -> list[int]:
        """Our packets per rx queue 0..queues-1."""
        counts = [0] * queues
        for p in self.packets:
            if p.ours and p.queue < queues:
                counts[p.queue] += 1
        return counts

    def queues_of_flows(self) -> dict[Flow, set[int]]:
        out: dict[Flow, set[int]] = {}
        for p in self.packets:
            if p.ours:
                out.setdefault(p.flow, set()).add(p.queue)
        return out


class Capture(Loop):
    """The capture loop on one worker lcore: polls ``queues`` of ``port``, records every packet
    (queue, hash, has_hash, flow) into an array of ``max_pkts`` records; optionally sends frames
    of ``tx_flows`` from ``tx_port`` first or meanwhile."""

    START, STATS = "probe_rss_capture_start", "probe_rss_capture_stats"
    STOP, FREE = "probe_rss_capture_stop", "probe_rss_capture_free"
    HANDLE, STATS_STRUCT, what = "probe_rss_capture", "struct probe_rss_capture_stats", "the RSS capture"

    def __init__(self, lcore: int, port, queues: Sequence[int], *, max_pkts: int, burst: int | None = None,
                 tx_port=None, tx_queue: int = 0, tx_flows: Sequence[Flow] = (), tx_count: int = 0,
                 pool=None, frame_size: int = 64, rx_after_tx: bool = False):
        most = require_lib().PROBE_MAX_QUEUES
        if not 0 < len(queues) <= most:
            raise UsageError(f"a capture polls 1..{most} queues, got {len(queues)}")
        c = ffi.new("struct probe_rss_capture_conf *")
        c.lcore, c.port, c.burst, c.n_queues = lcore, port.id, burst_or_session(burst), len(queues)
        for i, q in enumerate(queues):
            c.queues[i] = q
        self._pkts = ffi.new("struct probe_rss_pkt[]", max(1, max_pkts))
        assert ffi.sizeof("struct probe_rss_pkt") == struct.calcsize(PKT_FORMAT)
        c.pkts, c.max_pkts = self._pkts, max_pkts
        c.flags = F_RX_AFTER_TX if rx_after_tx else 0
        self._tuples = None
        if tx_count:
            if tx_port is None or pool is None or not tx_flows:
                raise UsageError("a capture that sends needs tx_port, pool and tx_flows")
            self._tuples = c_tuples(tx_flows)
            c.tx_count, c.tx_port, c.tx_queue, c.frame_size = tx_count, tx_port.id, tx_queue, frame_size
            c.pool, c.tuples, c.n_tuples = pool.handle, self._tuples, len(tx_flows)
        self.conf, self.queues, self._pool = c, list(queues), pool
        self._launch(lcore, c)

    def stats(self) -> dict:
        if self._final is not None:
            return self._final.stats
        st = self._read_stats()
        return struct_to_dict(st[0], "struct probe_rss_capture_stats")

    def wait(self, ours: int, timeout_s: float, *, settle_s: float = 0.02) -> dict:
        """Wait until the capture has seen ``ours`` of our packets (or timeout), then ``settle_s`` more."""
        deadline = time.monotonic() + timeout_s
        st = self.stats()
        while time.monotonic() < deadline and st["ours"] < ours:
            time.sleep(0.005)
            st = self.stats()
        time.sleep(settle_s)
        return self.stats()

    def wait_sent(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats()["tx_done"]:
                return True
            time.sleep(0.002)
        return bool(self.stats()["tx_done"])

    def _collect(self) -> CaptureResult:
        """The records are read once, between stop and free."""
        stats = self.stats()
        buf = ffi.buffer(self._pkts, stats["captured"] * struct.calcsize(PKT_FORMAT))
        packets = [Packet(q, h, bool(hh), bool(o), Flow(s, d, sp, dp))
                   for h, s, d, sp, dp, q, hh, o in struct.iter_unpack(PKT_FORMAT, buf)]
        return CaptureResult(stats, packets)

    def stop(self) -> CaptureResult:
        """Stop the loop (idempotent) and return what it captured."""
        return super().stop()
