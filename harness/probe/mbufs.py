"""Single mbufs seen from Python (Packet), external buffers, and frames fed from outside DPDK."""
from __future__ import annotations

import errno
import time

from harness.errors import check
from harness.probe.core import ffi, lib, require_lib, struct_to_dict
from harness.probe.eal import Mempool
from harness.probe.ports import Port

# ---------------------------------------------------------------- single mbufs


class Packet:
    """One mbuf, for zero-copy checks. ``view()`` is a memoryview over its data, without a copy.

    Views never outlive the mbuf: :meth:`free` (and handing the mbuf to :meth:`tx`) releases every
    view first, after which using one raises ``ValueError``; a view that is still exported
    (e.g. wrapped by numpy) makes ``free`` refuse, rather than leave a dangling pointer.
    """

    def __init__(self, handle, what: str):
        self._h = handle
        self._views: list[memoryview] = []
        self.what = what

    @classmethod
    def alloc(cls, pool: Mempool, frame_size: int = 64) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_mbuf_alloc(pool.handle, frame_size, out), f"alloc a {frame_size}-byte frame")
        return cls(out[0], f"{frame_size}-byte frame")

    @classmethod
    def chain(cls, pool: Mempool, total: int, seg_len: int) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_mbuf_alloc_chain(pool.handle, total, seg_len, out),
              f"chain a {total}-byte frame in {seg_len}-byte segments")
        return cls(out[0], f"{total}-byte chained frame")

    @classmethod
    def receive(cls, port: Port, queue: int | None = None, timeout_s: float = 1.0) -> "Packet":
        """One frame from ``queue``, or (None) from whichever rx queue of the port gets it first:
        a NIC's RSS may put a frame on any of them."""
        out = ffi.new("probe_mbuf **")
        if queue is not None:
            check(require_lib().probe_mbuf_rx(port.id, queue, int(timeout_s * 1000), out),
                  f"receive one frame on port {port.id} queue {queue}")
            return cls(out[0], f"frame received on port {port.id}")
        nq = max(1, port.conf.nb_rxq if port.conf is not None else 1)
        deadline = time.monotonic() + timeout_s
        while True:
            for q in range(nq):
                rc = require_lib().probe_mbuf_rx(port.id, q, 0, out)
                if rc == 0:
                    return cls(out[0], f"frame received on port {port.id} queue {q}")
                if rc != -errno.ETIMEDOUT:
                    check(rc, f"receive one frame on port {port.id} queue {q}")
            if time.monotonic() > deadline:
                check(-errno.ETIMEDOUT, f"receive one frame on port {port.id} (any of its {nq} rx queues)")
            time.sleep(0.001)

    @classmethod
    def external(cls, pool: Mempool, extset, frame_size: int = 64) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_extbuf_alloc(pool.handle, frame_size, extset, out), "attach an external buffer")
        return cls(out[0], "external-buffer frame")

    @property
    def handle(self):
        if self._h is None:
            raise ValueError(f"{self.what}: the mbuf was freed or handed to the PMD")
        return self._h

    def info(self) -> dict:
        out = ffi.new("struct probe_mbuf_info *")
        check(lib.probe_mbuf_info(self.handle, out), "mbuf info")
        return struct_to_dict(out[0], "struct probe_mbuf_info")

    def view(self) -> memoryview:
        data, n = ffi.new("uint8_t **"), ffi.new("uint32_t *")
        check(lib.probe_mbuf_data(self.handle, data, n), "mbuf data")
        mv = memoryview(ffi.buffer(data[0], n[0]))
        self._views.append(mv)
        return mv

    def c_byte(self, i: int) -> int:
        """What C reads at byte i of the data."""
        return check(lib.probe_mbuf_byte(self.handle, i), f"mbuf byte {i}")

    def clone(self, pool: Mempool) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(lib.probe_mbuf_clone(self.handle, pool.handle, out), "rte_pktmbuf_clone")
        return Packet(out[0], f"clone of {self.what}")

    def _release_views(self) -> None:
        for mv in self._views:
            mv.release()  # BufferError while exported: the mbuf must then stay alive
        self._views.clear()

    def tx(self, port: Port, queue: int = 0) -> None:
        """Hand the mbuf to the PMD; on success this handle no longer owns it."""
        self._release_views()
        check(lib.probe_mbuf_tx(self.handle, port.id, queue), f"transmit {self.what} on port {port.id}")
        self._h = None

    def free(self) -> None:
        if self._h is not None:
            self._release_views()
            check(lib.probe_mbuf_free(self._h), "rte_pktmbuf_free")
            self._h = None

    def __enter__(self) -> "Packet":
        return self

    def __exit__(self, *exc) -> None:
        self.free()


def extbuf_set():
    """Counters shared by external buffers: attached, freed (callback calls), extra_frees."""
    require_lib()
    return ffi.new("struct probe_extbuf_set *")


# ---------------------------------------------------------------- outside DPDK


def inject(ifname: str, count: int, *, flows: int = 1, frame_size: int = 64, netns: str | None = None,
           rate_pps: int = 0) -> int:
    """Send ``count`` 198.18.0.0/15 frames into ``ifname`` from the kernel side (AF_PACKET, in C),
    paced to ``rate_pps`` if given."""
    path = f"/run/netns/{netns}" if netns else ""
    return check(require_lib().probe_inject(ifname.encode(), path.encode(), flows, count, frame_size, int(rate_pps)),
                 f"inject {count} frames on {ifname}" + (f" in netns {netns}" if netns else ""))


def write_pcap(path: str, count: int, *, flows: int = 1, frame_size: int = 64) -> int:
    return check(require_lib().probe_write_pcap(str(path).encode(), flows, count, frame_size),
                 f"write pcap {path}")
