"""Capabilities a check may require, and why a device lacks them (the SKIP reason)."""
from __future__ import annotations

import glob

from harness import registry
from harness.errors import UsageError
from harness.system import inventory

KNOWN = registry.CAPABILITIES  # harness/registry.py: the one list


def numa_nodes(sys_root: str = "/sys") -> int:
    return max(1, len(glob.glob(f"{sys_root}/devices/system/node/node[0-9]*")))


def missing(topo, cap: str) -> str | None:
    """None when the topology has ``cap``; otherwise the reason, naming the device."""
    if cap not in KNOWN:
        raise UsageError(f"@pytest.mark.requires({cap!r}): unknown capability; known: {', '.join(KNOWN)}")
    dev = topo.describe_ports()
    if cap == "wire":
        kind = registry.TOPOLOGIES.get(topo.kind)
        if (kind is not None and kind.wire) or (topo.kind == "nic" and len(topo.ports) >= 2):
            return None
        wires = ", ".join(t.name for t in registry.TOPOLOGIES.values() if t.wire)
        return f"{dev}: no wire between two ports ({topo.kind}); use --dpdk-vdev {wires} or a NIC pair with a cable"
    if cap == "payload":
        return topo.notes.get("payload") and f"{dev}: {topo.notes['payload']}"
    if cap == "multi_queue":
        if any(p.info()["max_rx_queues"] > 1 for p in topo.ports):
            return None
        return f"{dev}: {topo.notes.get('multi_queue', 'offers a single rx queue')}"
    if cap == "rss_hash":
        infos = [p.info() for p in topo.ports]
        if topo.device_rss and all(i["flow_type_rss_offloads"] and i["reta_size"] for i in infos):
            return None
        return f"{dev}: {topo.notes.get('rss_hash') or topo.notes.get('rss_reta') or 'reports no RSS hash'}"
    if cap == "rss_reta":
        infos = [p.info() for p in topo.ports]
        if topo.device_rss and all(i["reta_size"] for i in infos) and "rss_reta" not in topo.notes:
            return None
        return f"{dev}: {topo.notes.get('rss_reta') or 'has no redirection table'}"
    if cap == "kernel_fed":
        return None if topo.kernel_fed else f"{dev}: not fed from the kernel side ({topo.kind})"
    if cap in ("imissed", "rx_nombuf"):
        table = registry.NO_IMISSED if cap == "imissed" else registry.NO_RX_NOMBUF  # DPDK offers no flag: by PMD
        if cap == "imissed" and inventory.emulated_nic():
            table = {**registry.EMULATED_NO_IMISSED, **table}
        lacking = {p.driver: table[p.driver] for p in topo.ports if p.driver in table}
        if lacking:
            return f"{dev}: " + "; ".join(f"{d} {why}" for d, why in lacking.items())
        return None
    if cap == "numa":
        n = numa_nodes()
        return None if n > 1 else f"single NUMA node host: socket placement cannot differ ({n} node)"
    return None
