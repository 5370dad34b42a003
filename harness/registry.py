"""The one list of vdev topologies and the one list of capabilities.

Read by the profile validator (``ports.topology``), the plugin (``--dpdk-vdev`` help, the
``requires`` marker), capabilities.py (SKIP reasons), topology.py (what ``build`` makes) and the
suites. Adding a topology: an entry here and its builder in topology.py (see README, "Extending").
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopologyKind:
    name: str
    ports: int              # ports it gives: 2 = a tx and an rx port, 1 = one port both ways
    description: str        # what it is (shown in SKIP reasons and the report)
    wire: bool = False      # what one port sends, the other receives: the same mbufs
    kernel_fed: bool = False  # frames come from the kernel side; the kernel's hash picks the queue


TOPOLOGIES: dict[str, TopologyKind] = {t.name: t for t in (
    TopologyKind("null_pair", 2, "net_null source and sink: rx makes empty 64-byte mbufs, tx frees them"),
    TopologyKind("ring_wire", 2, "two net_ring ports joined by rte_rings: what A sends, B receives (same mbufs)",
                 wire=True),
    TopologyKind("tap", 1, "net_tap fed from its kernel side; the kernel's flow hash picks the queue",
                 kernel_fed=True),
    TopologyKind("af_packet", 1, "net_af_packet with qpairs on a veth whose peer is in a harness netns; fanout "
                 "hash picks the queue", kernel_fed=True),
    TopologyKind("pcap", 1, "net_pcap replaying a capture the harness wrote"),
)}
DEFAULT_TOPOLOGY = "ring_wire"


def topology_names() -> str:
    """``null_pair, ring_wire, ...`` for help texts and error messages."""
    return ", ".join(TOPOLOGIES)


#: what ``@pytest.mark.requires(...)`` may ask for; a device without it SKIPs with the reason
CAPABILITIES: dict[str, str] = {
    "wire": "two ports joined so that what one sends the other receives (ring wire, loopback cable)",
    "payload": "received mbufs carry the frames that were sent",
    "multi_queue": "more than one rx queue",
    "rss_hash": "the device computes an RSS hash and has a redirection table",
    "rss_reta": "the device's redirection table can be read and reprogrammed",
    "kernel_fed": "frames are fed from the kernel side ("
                  + ", ".join(t.name for t in TOPOLOGIES.values() if t.kernel_fed) + ")",
    "numa": "more than one NUMA node on the host",
    "imissed": "the ports count imissed (frames the device dropped for want of rx descriptors)",
    "rx_nombuf": "the ports count rx_nombuf (rx found no free mbuf to refill a descriptor)",
}

#: PMDs whose rte_eth_stats never move a counter (DPDK 22.11: their stats_get leaves imissed at 0, their rx
#: never adds to rx_mbuf_alloc_failed); a check judged on that counter SKIPs naming the device and this reason.
#: NIC PMDs not listed count both (igb: the MPC register; ixgbe, i40e, mlx5: their missed counters).
NO_IMISSED = {
    **dict.fromkeys(("net_ring", "net_null", "net_tap", "net_tun", "net_af_packet", "net_memif", "net_vhost",
                     "net_virtio", "net_virtio_user", "net_kni", "net_softnic", "net_mlx4", "net_gve",
                     "net_idpf", "net_avp"), "has no imissed counter: its stats never count frames it missed"),
    "net_pcap": "counts imissed only on a live interface (pcap_stats), never when it replays a capture file",
}
#: PMDs whose counter the NIC keeps on silicon but an emulator does not: judged on real hardware, SKIPped where
#: the NICs are emulated (the lab's guest, inventory.emulated_nic()). QEMU's igb and e1000e models never write
#: MPC (hw/net/igb_core.c, e1000e_core.c: a full rx queue only raises the RXO interrupt cause).
EMULATED_NO_IMISSED = dict.fromkeys(
    ("net_e1000_igb", "net_e1000_em"),
    "is emulated, and QEMU's model of it never counts missed frames (the MPC register stays 0; a full rx queue "
    "drops silently): only the hardware NIC can show imissed")
NO_RX_NOMBUF = {
    "net_ring": "has no rx_nombuf counter: its rx hands on the sender's mbufs and allocates none",
    **dict.fromkeys(("net_null", "net_af_packet", "net_memif", "net_vhost"),
                    "has no rx_nombuf counter: its rx does not count failed mbuf allocations"),
}
