"""Ports: configure, start, stop, counters; vdevs and ring wires."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from harness.errors import check
from harness.probe.core import F_STRICT_DESC_LIM, STRICT_DESC_LIM, ffi, lib, require_lib, struct_to_dict
from harness.probe.eal import Eal, Mempool

# ---------------------------------------------------------------- ports


@dataclass(frozen=True)
class PortConf:
    nb_rxq: int = 1
    nb_txq: int = 1
    rx_desc: int = 1024
    tx_desc: int = 1024
    tx_free_thresh: int = 0
    tx_rs_thresh: int = 0
    mtu: int = 0
    lpbk_mode: int = 0
    promisc: bool = True
    scatter: bool = False
    rss: bool = False
    rss_hf: int = 0
    rss_key: bytes = b""


class Port:
    """An ethdev port. Created by a topology (vdev) or found by name (PCI)."""

    def __init__(self, port_id: int, role: str = ""):
        self.id = port_id
        self.role = role
        self.started = False
        self.conf: PortConf | None = None

    @classmethod
    def by_name(cls, name: str, role: str = "") -> "Port":
        return cls(check(require_lib().probe_port_by_name(name.encode()), f"port {name!r}"), role)

    def info(self) -> dict:
        out = ffi.new("struct probe_port_info *")
        check(lib.probe_port_info(self.id, out), f"port {self.id} info")
        d = struct_to_dict(out[0], "struct probe_port_info")
        d["mac"] = ":".join(f"{b:02x}" for b in d["mac"])
        eal = Eal.current()
        if eal is not None and eal.run.faults & F_STRICT_DESC_LIM:  # --dpdk-probe-fault strict-desc-lim
            for kind in ("rx", "tx"):
                d.update({f"{kind}_{k}": v for k, v in STRICT_DESC_LIM.items()})
        return d

    @property
    def name(self) -> str:
        return self.info()["name"]

    @property
    def driver(self) -> str:
        return self.info()["driver"]

    def fw_version(self) -> str:
        """The NIC's firmware version, or "" where the PMD reports none (vdevs)."""
        buf = ffi.new("char[]", 128)
        rc = lib.probe_port_fw_version(self.id, buf, 128)
        return ffi.string(buf).decode(errors="replace") if rc == 0 else ""

    def link(self, wait_ms: int = 0) -> dict:
        out = ffi.new("struct probe_link *")
        check(lib.probe_port_link(self.id, out, wait_ms), f"port {self.id} link")
        return struct_to_dict(out[0], "struct probe_link")

    def configure(self, conf: PortConf, pool: Mempool) -> None:
        c = ffi.new("struct probe_port_conf *")
        for fld in dataclasses.fields(conf):
            if fld.name == "rss_key":
                continue
            setattr(c, fld.name, int(getattr(conf, fld.name)))
        if conf.rss_key:
            c.rss_key[0:len(conf.rss_key)] = conf.rss_key
            c.rss_key_len = len(conf.rss_key)
        check(lib.probe_port_configure(self.id, c, pool.handle),
              f"configure port {self.id} ({self.driver}) with {conf.nb_rxq} rx / {conf.nb_txq} tx queues, "
              f"{conf.rx_desc}/{conf.tx_desc} descriptors")
        self.conf = conf

    def start(self) -> None:
        check(lib.probe_port_start(self.id), f"rte_eth_dev_start(port {self.id})")
        self.started = True

    def stop(self) -> None:
        if self.started:
            check(lib.probe_port_stop(self.id), f"rte_eth_dev_stop(port {self.id})")
            self.started = False

    def close(self) -> None:
        self.stop()
        check(lib.probe_port_close(self.id), f"rte_eth_dev_close(port {self.id})")

    def stats(self) -> dict:
        out = ffi.new("struct probe_port_stats *")
        check(lib.probe_port_stats(self.id, out), f"port {self.id} stats")
        return struct_to_dict(out[0], "struct probe_port_stats")

    def tx_done_cleanup(self, queue: int = 0, free_cnt: int = 0) -> int:
        """rte_eth_tx_done_cleanup; ProbeUnsupportedError where the PMD lacks it."""
        return check(lib.probe_port_tx_done_cleanup(self.id, queue, free_cnt),
                     f"rte_eth_tx_done_cleanup(port {self.id} {self.driver}, queue {queue})")

    def reset_stats(self) -> None:
        check(lib.probe_port_stats_reset(self.id), f"port {self.id} stats reset")

    def set_reta(self, reta: Sequence[int]) -> None:
        """Program the redirection table, one queue per entry (rte_eth_dev_rss_reta_update)."""
        arr = ffi.new("uint16_t[]", list(reta))
        check(lib.probe_rss_reta_update(self.id, arr, len(reta)),
              f"rte_eth_dev_rss_reta_update(port {self.id}, {self.driver}, {len(reta)} entries)")

    def __repr__(self) -> str:
        return f"Port({self.id}, role={self.role!r})"


def vdev_create(name: str, args: str = "") -> Port:
    pid = check(require_lib().probe_vdev_create(name.encode(), args.encode()),
                f"rte_vdev_init({name!r}, {args!r})")
    return Port(pid)


def vdev_destroy(name: str) -> None:
    check(lib.probe_vdev_destroy(name.encode()), f"rte_vdev_uninit({name!r})")


def ring_wire_create(name: str, queues: int = 1, ring_size: int = 1024, socket: int = -1) -> tuple[Port, Port]:
    a, b = ffi.new("uint16_t *"), ffi.new("uint16_t *")
    check(require_lib().probe_ring_wire_create(name.encode(), queues, ring_size, socket, a, b),
          f"ring wire {name!r} ({queues} queues, {ring_size} slots)")
    return Port(a[0], "a"), Port(b[0], "b")


def ring_wire_pending(name: str) -> int:
    return check(lib.probe_ring_wire_pending(name.encode()), f"ring wire {name!r} pending")


def ring_wire_destroy(name: str) -> None:
    check(lib.probe_ring_wire_destroy(name.encode()), f"ring wire {name!r} destroy")
