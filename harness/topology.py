"""Port sets under test: vdev topologies the harness builds and tears down, or the NICs of --nic.

Every topology is built after EAL boot through ``rte_vdev_init`` (or ``rte_eth_from_rings``),
so one EAL serves them all. Kernel-side objects (veth, netns, temp dirs) are recorded in the
journal before they are made. Traffic generated here stays in 198.18.0.0/15 and inside devices
this module created.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import probe
from harness.errors import BringUpError, ProbeError, ProbeUnsupportedError, UsageError
from harness.probe import Mempool, Port, PortConf
from harness.profile import Profile, queue_rule_problem
from harness.registry import TOPOLOGIES, topology_names


def profile_port_count(profile: Profile) -> int:
    """Ports the profile's deployment uses: its NICs, or its vdev topology's ports."""
    return len(profile.ports.pci) if profile.ports.nic_mode else TOPOLOGIES[profile.ports.topology].ports


_counter = iter(range(1_000_000))


def _short_id() -> str:
    return f"{os.getpid() % 100000}{next(_counter)}"


def _disable_ipv6(ifname: str) -> None:
    """No router solicitations or ND on links we own: the only frames on them are ours."""
    path = pathlib.Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    try:
        path.write_text("1")
    except OSError:
        pass


@dataclass
class Topology:
    kind: str                       # a name in registry.TOPOLOGIES, or "nic"
    ports: list[Port]
    description: str
    wire: str | None = None         # ring wire name
    kernel_if: str | None = None    # where frames are injected from the kernel side
    netns: str | None = None
    pcap_frames: int = 0            # frames in the replayed capture
    vdevs: list[str] = field(default_factory=list)
    port_conf: PortConf | None = None
    device_rss: bool = True         # False where the kernel, not the device, picks the queue
    held_mbufs: int = 0             # mbufs the started ports keep (rx rings, PMD buffers): not a leak
    notes: dict[str, str] = field(default_factory=dict)   # per-capability reasons it is missing

    @property
    def tx(self) -> Port:
        """The port traffic is sent on."""
        return self.ports[0]

    @property
    def rx(self) -> Port:
        """The port traffic arrives on (the same port for single-port topologies)."""
        return self.ports[-1]

    @property
    def kernel_fed(self) -> bool:
        return self.kernel_if is not None

    def feed(self, count: int, *, flows: int = 1, frame_size: int = 64, rate_pps: int = 0) -> int:
        """Send frames into the rx port from the kernel side (tap, af_packet)."""
        if not self.kernel_fed:
            raise UsageError(f"topology {self.kind} is not fed from the kernel")
        return probe.inject(self.kernel_if, count, flows=flows, frame_size=frame_size, netns=self.netns,
                            rate_pps=rate_pps)

    def pending(self) -> int:
        """mbufs sent into the wire and not yet received."""
        return probe.ring_wire_pending(self.wire) if self.wire else 0

    def reclaim_tx(self) -> int:
        """Ask every tx queue to free the mbufs it has sent (rte_eth_tx_done_cleanup) and return how
        many mbufs its tx rings may still park where the PMD cannot (tx_desc per queue).

        A NIC PMD frees transmitted mbufs lazily, on later tx calls, so after traffic its tx rings
        hold up to tx_desc sent mbufs each: not a leak. Only between runs (no lcore transmitting).
        """
        from harness.errors import ProbeError
        parked = 0
        if self.kind != "nic":
            return 0  # vdevs free (or hand on) what they take at once
        for port in self.ports:
            conf = port.conf
            if conf is None or not port.started:
                continue
            for q in range(conf.nb_txq):
                try:
                    port.tx_done_cleanup(q, 0)
                except ProbeError:
                    parked += conf.tx_desc
        return parked

    def describe_ports(self) -> str:
        return ", ".join(f"{p.name} ({p.driver})" for p in self.ports)


def descriptor_problems(profile: Profile, info: dict) -> list[str]:
    """queues.rx_desc / tx_desc against the device's limits (rte_eth_dev_info desc_lim): a NIC PMD
    rejects a count out of its range or off its alignment (igb: 32..4096, multiples of 8)."""
    out: list[str] = []
    for kind, want in (("rx", profile.queues.rx_desc), ("tx", profile.queues.tx_desc)):
        lo, hi, align = (info.get(f"{kind}_desc_{k}", 0) for k in ("min", "max", "align"))
        if not hi:
            continue  # the PMD states no limits (vdevs)
        align = max(1, align)
        if lo <= want <= hi and want % align == 0:
            continue
        fit = min(max(want, lo), hi)
        fit -= fit % align
        fit = fit if fit >= lo else fit + align
        out.append(f"queues.{kind}_desc = {want}: {info['driver']} ({info['name']}) takes {lo}..{hi} {kind} "
                   f"descriptors in multiples of {align}; set queues.{kind}_desc = {fit}")
    return out


def _port_conf(profile: Profile, port: Port, *, queues: int | None = None,
               device_rss: bool = True) -> tuple[PortConf, dict[str, str]]:
    """The profile's port configuration, as far as this device supports it; what it cannot is noted."""
    info = port.info()
    q = profile.queues
    notes: dict[str, str] = {}
    nb_rxq = min(queues or q.rx, info["max_rx_queues"])
    nb_txq = min(queues or q.tx, info["max_tx_queues"])
    if nb_rxq < (queues or q.rx):
        notes["multi_queue"] = f"{info['driver']} offers {info['max_rx_queues']} rx queue(s)"
    want = probe.rss_hf(profile.rss.hash_functions) if profile.rss.enabled else 0
    have = info["flow_type_rss_offloads"]
    rss = bool(want and nb_rxq > 1 and have and device_rss)
    key = profile.rss.key or b""
    if key and probe.active_faults() & probe.F_RSS_KEY:  # --dpdk-probe-fault rss-key (mutation tests)
        key = bytes(b ^ 0x5A for b in key)
    if not have:
        notes["rss_hash"] = f"{info['driver']} ({info['name']}) reports no RSS hash functions"
    if not info["reta_size"]:
        notes["rss_reta"] = f"{info['driver']} ({info['name']}) has no redirection table"
    conf = PortConf(
        nb_rxq=nb_rxq, nb_txq=nb_txq,
        rx_desc=q.rx_desc, tx_desc=q.tx_desc,
        tx_free_thresh=q.tx_free_thresh, tx_rs_thresh=q.tx_rs_thresh,
        lpbk_mode=profile.ports.lpbk_mode if profile.ports.loopback == "internal" else 0,
        promisc=profile.ports.promiscuous, scatter=profile.mempool.scatter,
        rss=rss, rss_hf=want & have if rss else 0,
        rss_key=key if rss else b"",
    )
    return conf, notes


def _bringup_error(port_text: str, cause: str, identity: str | None = None) -> BringUpError:
    """``identity``: the cause without the device's name, so one profile problem met on several
    topologies (the deployment's ports, a tap the harness builds) is reported once."""
    err = BringUpError(f"{port_text}: {cause}")
    err.cause = identity or cause
    return err


def bring_up(topo: Topology, profile: Profile, pool: Mempool, *, queues: int | None = None) -> Topology:
    """Configure and start every port of the topology with the profile's queues and pool.

    Raises :class:`BringUpError` naming DPDK's cause and the profile key: a PMD queue-count rule or a
    descriptor count the device refuses is found before the device is touched."""
    before = pool.stats().in_use
    for port in topo.ports:
        conf, notes = _port_conf(profile, port, queues=queues, device_rss=topo.device_rss)
        info = port.info()
        where = f"port {info['name']} ({info['driver']})"
        rule = queue_rule_problem(info["driver"], conf.nb_rxq, conf.nb_txq)
        if rule:
            raise _bringup_error(where, rule)
        desc = descriptor_problems(profile, info)
        if desc:  # a profile problem: named once, whichever topology meets it first
            raise _bringup_error(where, "; ".join(desc) + " (a profile problem)",
                                 "; ".join(d.split(":")[0] for d in desc))
        try:
            port.configure(conf, pool)
            port.start()
        except ProbeError as exc:
            raise _bringup_error(where, f"{exc}; the device refused the profile's port configuration: check "
                                        "queues.rx / queues.tx / queues.rx_desc / queues.tx_desc and the tx "
                                        "thresholds against the device's limits (PMD log above)") from exc
        topo.port_conf = conf
        for k, v in notes.items():
            topo.notes.setdefault(k, v)
        port.link(wait_ms=int(profile.ports.link_timeout_s * 1000))
    if topo.port_conf is not None and topo.port_conf.rss:
        for problem in apply_profile_reta(topo, profile):  # programmed after start
            topo.notes.setdefault("rss_reta", problem)
    topo.held_mbufs = pool.stats().in_use - before
    return topo


def apply_profile_reta(topo: Topology, profile: Profile) -> list[str]:
    """Program ``rss.reta`` (repeated over each port's RETA size) on ports that run RSS and have a RETA,
    after the key and hash functions are configured. Returns what could not be applied, one line per port."""
    notes: list[str] = []
    reta = profile.rss.reta
    if not reta:
        return notes
    for port in topo.ports:
        size = port.info()["reta_size"]
        if size and port.conf is not None and port.conf.rss:
            try:
                port.set_reta([reta[i % len(reta)] for i in range(size)])
            except ProbeUnsupportedError as exc:
                notes.append(str(exc))
    return notes


def _null_pair(kind: str, sid: str, nq: int, profile: Profile, journal) -> Topology:
    names = [f"net_null_dh{sid}s", f"net_null_dh{sid}k"]
    ports: list[Port] = []
    try:
        for name in names:
            # copy=0: the source hands out mbufs without writing them, the sink frees them
            ports.append(probe.vdev_create(name, "copy=0"))
    except ProbeError:
        for name in names[: len(ports)]:
            probe.vdev_destroy(name)
        raise
    ports[0].role, ports[1].role = "source", "sink"
    return Topology(kind, ports, TOPOLOGIES[kind].description, vdevs=names,
                    notes={"payload": "net_null delivers mbufs without packet data"})


def _ring_wire(kind: str, sid: str, nq: int, profile: Profile, journal) -> Topology:
    wire = f"dhw{sid}"
    a, b = probe.ring_wire_create(wire, queues=nq, ring_size=max(1024, profile.queues.rx_desc))
    return Topology(kind, [a, b], TOPOLOGIES[kind].description, wire=wire)


def _tap(kind: str, sid: str, nq: int, profile: Profile, journal) -> Topology:
    ifname = f"dhtap{sid}"[:15]
    name = f"net_tap_dh{sid}"
    journal.record("link", name=ifname, netns=None)  # the kernel drops it with the fd; belt and braces
    port = probe.vdev_create(name, f"iface={ifname}")
    port.role = "tap"
    _disable_ipv6(ifname)
    return Topology(kind, [port], TOPOLOGIES[kind].description, kernel_if=ifname, vdevs=[name], device_rss=False,
                    notes={"rss_hash": "net_tap RSS needs rte_flow (multiq qdisc), off on this kernel;"
                                       " the kernel's flow hash spreads instead"})


def _af_packet(kind: str, sid: str, nq: int, profile: Profile, journal) -> Topology:
    from harness.system import netns as netns_mod
    ns = f"dh{os.getpid()}"
    host_if, peer_if = f"dhv{sid}a"[:15], f"dhv{sid}b"[:15]
    if not pathlib.Path(f"/run/netns/{ns}").exists():
        netns_mod.create_netns(journal, ns)
    netns_mod.create_veth_pair(journal, host_if, peer_if, ns)
    name = f"net_af_packet_dh{sid}"
    port = probe.vdev_create(name, f"iface={host_if},qpairs={nq},qdisc_bypass=0")
    port.role = "af_packet"
    return Topology(kind, [port], TOPOLOGIES[kind].description, kernel_if=peer_if, netns=ns, vdevs=[name],
                    device_rss=False,
                    notes={"rss_hash": "net_af_packet delivers no RSS hash; PACKET_FANOUT_HASH spreads instead"})


def _pcap(kind: str, sid: str, nq: int, profile: Profile, journal) -> Topology:
    tmp = tempfile.mkdtemp(prefix="dh-pcap-")
    journal.record("dir", path=tmp)
    src = os.path.join(tmp, "in.pcap")
    frames = max(1024, profile.rss.flows)
    probe.write_pcap(src, frames, flows=profile.rss.flows, frame_size=64)
    name = f"net_pcap_dh{sid}"
    port = probe.vdev_create(name, f"rx_pcap={src},tx_pcap={os.path.join(tmp, 'out.pcap')}")
    port.role = "pcap"
    return Topology(kind, [port], TOPOLOGIES[kind].description, pcap_frames=frames, vdevs=[name],
                    notes={"rss_hash": "net_pcap reports no RSS hash",
                           "multi_queue": "net_pcap replays one file per queue"})


#: how each topology of harness/registry.py is built
BUILDERS: dict[str, Callable[[str, str, int, Profile, Any], Topology]] = {
    "null_pair": _null_pair, "ring_wire": _ring_wire, "tap": _tap, "af_packet": _af_packet, "pcap": _pcap,
}


def build(kind: str, profile: Profile, journal, *, queues: int | None = None) -> Topology:
    """Create the vdevs (and kernel objects) of one topology; ports are not configured yet."""
    if kind not in BUILDERS:
        raise UsageError(f"--vdev: {kind!r} is not a topology; choose one of {topology_names()}")
    nq = queues or max(profile.queues.rx, profile.queues.tx)
    return BUILDERS[kind](kind, _short_id(), nq, profile, journal)


def nic_ports(profile: Profile) -> Topology:
    """The --nic ports EAL probed through its allowlist (-a), in the order given."""
    ports = []
    for i, pci in enumerate(profile.ports.pci):
        port = Port.by_name(pci, role=f"nic{i}")
        ports.append(port)
    loop = profile.ports.loopback
    desc = {"cable": "NIC ports joined by a loopback cable", "internal": "one NIC port in internal loopback",
            "none": "NIC ports"}[loop]
    return Topology("nic", ports, desc)


def teardown(topo: Topology) -> list[str]:
    """Stop and remove what :func:`build` made; returns problems as one-line strings."""
    errors = []
    for port in topo.ports:
        try:
            port.stop()
        except ProbeError as exc:
            errors.append(str(exc))
    if topo.kind == "nic":
        for port in topo.ports:
            try:
                port.close()
            except ProbeError as exc:
                errors.append(str(exc))
        return errors
    if topo.wire:
        try:
            probe.ring_wire_destroy(topo.wire)
        except ProbeError as exc:
            errors.append(str(exc))
    for name in topo.vdevs:
        try:
            probe.vdev_destroy(name)
        except ProbeError as exc:
            errors.append(str(exc))
    return errors
