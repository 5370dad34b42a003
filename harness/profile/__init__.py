"""Deployment profile: TOML -> frozen, validated dataclasses.

A profile says what is under test (EAL, ports, queues, mempool, RSS) and what it must
achieve (targets, measurement settings).  Loading is strict: an unknown key, a wrong
type or an impossible value raises :class:`~harness.errors.ProfileError` whose message
is one line naming the file, the dotted key, the problem and the fix::

    profiles/x.toml: queues.rx_dsec: unknown key; did you mean 'rx_desc'? known keys in [queues]: rx, tx, ...

Every key, its type, default and range is documented in ``profiles/README.md``.

Validation happens here, in the parse layer (``parse_profile`` / ``load_profile`` /
``Profile.with_overrides``); the dataclasses themselves are plain frozen records. Each section's own
rules are checked as it is read; the rules on the profile as a whole (across sections, and whether the
ports exist) are checked on the profile as it will run, with the command line's ``--nic`` / ``--vdev``
/ ``--lcores`` applied: a NIC profile need not name PCI addresses that ``--nic`` gives.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ProfileError, UsageError
from harness.profile.lcores import LcoreMap, check_lcore_count, format_lcores, parse_lcores, read_lcores
from harness.profile.readers import LATENCY_PERCENTILES, RSS_HASH_FUNCTIONS, PpsTarget, tx_thresh_problem
from harness.profile.sections import (
    DUT_MODES,
    LOG_LEVELS,
    LOOPBACKS,
    SEARCHES,
    SECTIONS,
    TOPOLOGIES,
    AuditConfig,
    EalConfig,
    MeasureConfig,
    MempoolConfig,
    PortsConfig,
    QueuesConfig,
    RssConfig,
    Targets,
    read_section,
)
from harness.profile.table import Bad, FrozenMap, Table, desc, id_list, num, unknown_key
from harness.system.pci import normalize_pci

__all__ = [
    "DUT_MODES",
    "LATENCY_PERCENTILES",
    "LOG_LEVELS",
    "LOOPBACKS",
    "RSS_HASH_FUNCTIONS",
    "SEARCHES",
    "TOPOLOGIES",
    "AuditConfig",
    "EalConfig",
    "FrozenMap",
    "LcoreMap",
    "MeasureConfig",
    "MempoolConfig",
    "PortsConfig",
    "PpsTarget",
    "Profile",
    "QueuesConfig",
    "RssConfig",
    "Targets",
    "check_host",
    "default_profile_path",
    "format_lcores",
    "load_profile",
    "mbufs_required",
    "memory_needed_mb",
    "pool_mb",
    "queue_rule_problem",
    "warnings_for",
    "parse_lcores",
    "parse_profile",
    "tx_thresh_problem",
]

MBUF_OVERHEAD = 128 + 64   # struct rte_mbuf + mempool object header, per mbuf (lower bound)
ETHER_OVERHEAD = 18        # Ethernet header (14) + CRC (4): largest frame = mtu + 18
MEMPOOL_CACHE_MAX = 512    # RTE_MEMPOOL_CACHE_MAX_SIZE
RTE_MAX_LCORE = 128        # DPDK's default build: a pool with a cache has one rte_mempool_cache per lcore
MEMPOOL_CACHE_BYTES = 64 + 8 * 2 * MEMPOOL_CACHE_MAX   # struct rte_mempool_cache: objs[2 x CACHE_MAX_SIZE]
EAL_OVERHEAD_MB = 4        # EAL's own hugepage use besides the pool: malloc heap, ethdev data, rings (lower bound)
MIN_JUDGED_PPS = 1000      # a throughput verdict that passes below this judges nothing

_PROFILE_FIX = "pass --dpdk-profile with the path of a TOML profile (see profiles/)"
_TOP_KEYS = ("name", "description")
_SECTIONS = tuple(SECTIONS)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    path: str = "<string>"
    eal: EalConfig = field(default_factory=EalConfig)
    ports: PortsConfig = field(default_factory=PortsConfig)
    queues: QueuesConfig = field(default_factory=QueuesConfig)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    rss: RssConfig = field(default_factory=RssConfig)
    targets: Targets = field(default_factory=Targets)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)

    def with_overrides(
        self,
        *,
        nic: Sequence[str] | None = None,
        topology: str | None = None,
        lcores: str | None = None,
    ) -> Profile:
        """Apply the command-line overrides and revalidate.

        ``nic`` (``--nic``) replaces ``ports.pci`` (items may also be comma-separated);
        ``topology`` (``--vdev``) switches to vdev mode: clears ``ports.pci`` and sets
        ``loopback = "none"``; ``lcores`` (``--lcores``) replaces ``eal.lcores`` and, when
        the profile's main lcore is not among the new lcores, makes the lowest one main.
        Errors in an option's value raise :class:`UsageError` naming the option.
        """
        if nic is not None and topology is not None:
            raise UsageError(
                "--nic and --vdev: give one or the other; --nic tests NIC ports, "
                "--vdev tests a virtual topology"
            )
        eal, ports = self.eal, self.ports
        if lcores is not None:
            try:
                maps = read_lcores(lcores, "--lcores")
                check_lcore_count(maps, "--lcores")
            except Bad as b:
                raise UsageError(b.line()) from None
            ids = [m.lcore for m in maps]
            main = eal.main_lcore if eal.main_lcore in ids else min(ids)
            eal = dataclasses.replace(eal, lcores=maps, main_lcore=main)
        if nic is not None:
            ports = dataclasses.replace(ports, pci=_override_pci(nic))
        if topology is not None:
            if not isinstance(topology, str) or topology not in TOPOLOGIES:
                raise UsageError(
                    f"--vdev: {topology!r} is not a topology; choose one of {', '.join(TOPOLOGIES)}"
                )
            ports = dataclasses.replace(ports, topology=topology, pci=(), loopback="none", lpbk_mode=0)
        new = dataclasses.replace(self, eal=eal, ports=ports)
        try:
            _check_as_run(new)
        except Bad as b:
            raise ProfileError(self.path, b.key, b.problem, b.fix) from None
        return new


def _check_as_run(p: Profile) -> None:
    """The profile's rules as it will run (overrides applied): its ports, then the cross-section rules."""
    p.ports.check_as_run()
    _cross_check(p)


def _cross_check(p: Profile) -> None:
    """Rules that involve keys in more than one section; each error names both keys."""
    for i, q in enumerate(p.rss.reta):
        if q >= p.queues.rx:
            raise Bad(f"rss.reta[{i}]", f"sends to rx queue {q} but queues.rx is {p.queues.rx} "
                       f"(queues 0..{p.queues.rx - 1})", "lower the entry or raise queues.rx")
    need_mb = memory_needed_mb(p)
    if need_mb > p.eal.memory_mb:
        raise Bad("mempool.mbufs", f"{p.mempool.mbufs} mbufs of {p.mempool.data_room} bytes need at "
                   f"least {need_mb} MB (the pool {pool_mb(p)} MB + EAL's own {EAL_OVERHEAD_MB} MB) but "
                   f"eal.memory_mb is {p.eal.memory_mb}",
                   f"raise eal.memory_mb to at least {need_mb} or lower mempool.mbufs / mempool.data_room")
    if not p.ports.nic_mode:
        driver = {"tap": "net_tap", "af_packet": "net_af_packet"}.get(p.ports.topology, "")
        problem = queue_rule_problem(driver, p.queues.rx, p.queues.tx)
        if problem:
            raise Bad("queues.tx", f"ports.topology = {p.ports.topology!r}: {problem}")
    largest = p.mempool.mtu + ETHER_OVERHEAD
    for i, t in enumerate(p.targets.pps):
        if t.frame_size > largest:
            raise Bad(f"targets.pps[{i}].frame_size",
                       f"{t.frame_size}-byte frames exceed mempool.mtu {p.mempool.mtu} "
                       f"(largest frame {largest})",
                       f"raise mempool.mtu to at least {t.frame_size - ETHER_OVERHEAD} or drop this target")
    t = p.targets
    for i, target in enumerate(t.pps):
        floor = target.pps * (1 - t.tolerance)
        if target.pps >= MIN_JUDGED_PPS > floor:
            raise Bad("targets.tolerance", f"{num(t.tolerance)} turns targets.pps[{i}] ({target.pps:,.0f} pps at "
                       f"{target.frame_size} bytes) into >= {floor:,.0f} pps, which any deployment passes",
                       f"use a tolerance that keeps the bound at {MIN_JUDGED_PPS} pps or more, e.g. 0.05")


def _build(data: Any, path: str) -> Profile:
    """The profile as written, each section checked on its own (see :func:`_check_as_run` for the rest)."""
    if not isinstance(data, Mapping):
        raise Bad(None, f"expected a TOML document (a table), got {desc(data)}", _PROFILE_FIX)
    for k, v in data.items():
        if k not in _TOP_KEYS and k not in _SECTIONS:
            if isinstance(v, Mapping):
                close = difflib.get_close_matches(str(k), _SECTIONS, n=1, cutoff=0.6)
                fix = f"did you mean [{close[0]}]? " if close else ""
                fix += "known sections: " + ", ".join(f"[{s}]" for s in _SECTIONS)
                raise Bad(str(k), "unknown section", fix)
            raise unknown_key(str(k), str(k), _TOP_KEYS + _SECTIONS, "known top-level keys")
    top = Table({k: v for k, v in data.items() if k in _TOP_KEYS}, "", _TOP_KEYS, "top level")
    name = top.get_str("name", pathlib.Path(path).stem)
    if not name.strip():
        raise Bad("name", "is empty", "give the profile a name, or leave name out to use the file name")
    sections = {s: read_section(cls, data.get(s), s) for s, cls in SECTIONS.items()}
    return Profile(name=name, description=top.get_str("description", ""), path=path, **sections)


def _override_pci(nic: Sequence[str]) -> tuple[str, ...]:
    if isinstance(nic, str):
        nic = [nic]
    addrs: list[str] = []
    for item in nic:
        for part in str(item).split(","):
            if not part.strip():
                continue
            try:
                addr = normalize_pci(part)
            except UsageError as e:
                raise UsageError(f"--nic: {e}") from None
            if addr in addrs:
                raise UsageError(f"--nic: {addr} is given twice; list each port once")
            addrs.append(addr)
    if not addrs:
        raise UsageError("--nic: no PCI address given; pass e.g. --nic 0000:03:00.0 (see `lspci -D`)")
    return tuple(addrs)


# --------------------------------------------------------------------------- public entry points


def parse_profile(data: str | Mapping, path: str = "<string>", *, nic: Sequence[str] | None = None,
                  topology: str | None = None, lcores: str | None = None) -> Profile:
    """Validate a profile given as TOML text or as an already-parsed mapping, as it will run with the
    command line's overrides (``--nic``, ``--vdev``, ``--lcores``; see :meth:`Profile.with_overrides`)."""
    path = str(path)
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    if isinstance(data, str):
        try:
            data = tomllib.loads(data)
        except tomllib.TOMLDecodeError as e:
            raise ProfileError(path, None, f"not valid TOML: {e}",
                               "fix the syntax there (profiles/README.md shows every key)") from None
    try:
        written = _build(data, path)
    except Bad as b:
        raise ProfileError(path, b.key, b.problem, b.fix) from None
    return written.with_overrides(nic=nic, topology=topology, lcores=lcores)


def load_profile(path: str | os.PathLike, *, nic: Sequence[str] | None = None, topology: str | None = None,
                 lcores: str | None = None) -> Profile:
    """Read and validate the profile at ``path`` (messages show ``path`` as given), as it will run with
    the overrides (see :func:`parse_profile`)."""
    shown = str(path)
    try:
        raw = pathlib.Path(path).read_bytes()
    except FileNotFoundError:
        raise ProfileError(shown, None, "no such profile file", _PROFILE_FIX) from None
    except IsADirectoryError:
        raise ProfileError(shown, None, "is a directory, not a profile file", _PROFILE_FIX) from None
    except OSError as e:
        raise ProfileError(shown, None, f"cannot read the profile ({e.strerror})",
                           "check the path and its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ProfileError(shown, None, f"not UTF-8 text (byte {e.start}, line {line}: {raw[e.start:e.start + 1]!r})",
                           f"save the profile as UTF-8, e.g. `iconv -f latin1 -t utf-8 {shown} > fixed.toml`"
                           ) from None
    return parse_profile(text, shown, nic=nic, topology=topology, lcores=lcores)


def default_profile_path() -> pathlib.Path:
    """``$DPDK_HARNESS_PROFILE`` if set, else ``profiles/vdev.toml`` next to the package."""
    env = os.environ.get("DPDK_HARNESS_PROFILE")
    if env:
        return pathlib.Path(env)
    p = pathlib.Path(__file__).resolve().parents[2] / "profiles" / "vdev.toml"
    if p.is_file():
        return p
    raise ProfileError(str(p), None, "no default profile found",
                       "pass --dpdk-profile with the path of a TOML profile, or set DPDK_HARNESS_PROFILE")


def check_host(profile: Profile, cpus: Iterable[int], key: str = "eal.lcores") -> None:
    """Raise a one-line :class:`UsageError` if an lcore maps to a CPU not in ``cpus``.

    ``cpus`` is what this process may use, e.g. the host's online CPUs. ``key`` names where the
    lcores came from in the message (``--dpdk-lcores`` when the option overrode the profile).
    """
    allowed = sorted(set(cpus))
    ok = frozenset(allowed)
    lcores = profile.eal.lcores
    for m in lcores:
        missing = sorted(m.cpus - ok)
        if not missing:
            continue
        n_cpus = f"{len(allowed)} CPU{'s' if len(allowed) != 1 else ''}"
        have = (f"CPU{'s' if len(allowed) != 1 else ''} {id_list(allowed)} ({n_cpus})"
                if allowed else "no CPUs")
        problem = f"lcore {m.lcore} is mapped to CPU {missing[0]} but this process may only use {have}"
        if not allowed:
            fix = "check the CPU affinity this process runs with (taskset, cgroups)"
        elif len(lcores) > len(allowed):
            k = max(2, len(allowed))
            hint = format_lcores([LcoreMap(i, frozenset({allowed[i % len(allowed)]})) for i in range(k)])
            fix = f"use fewer lcores, e.g. --dpdk-lcores {hint}"
        else:
            hint = format_lcores([LcoreMap(i, frozenset({allowed[i]})) for i in range(len(lcores))])
            fix = f"map the lcores onto CPUs this process may use, e.g. --dpdk-lcores {hint}"
        raise UsageError(f"{key}: {problem}; {fix}")


#: queue-count rules of PMDs, as their dev_configure enforces them (read at load and at bring-up):
#: driver -> (rule, holds(rx, tx), where)
PMD_QUEUE_RULES = {
    "net_tap": ("as many tx queues as rx queues", lambda rx, tx: rx == tx,
                "tap_dev_configure refuses other counts with -1, which reads as EPERM \"Operation not permitted\""),
}


def queue_rule_problem(driver: str, nb_rxq: int, nb_txq: int) -> str | None:
    """The PMD's queue-count rule these counts break (one line naming queues.rx / queues.tx), or None."""
    rule = PMD_QUEUE_RULES.get(driver)
    if rule is None or rule[1](nb_rxq, nb_txq):
        return None
    text, _, where = rule
    return (f"{driver} needs {text}, the profile asks for {nb_rxq} rx / {nb_txq} tx ({where}); "
            f"set queues.tx = queues.rx = {max(nb_rxq, nb_txq)}")


def pool_mb(profile: Profile) -> int:
    """Hugepage memory the profile's pool takes (MB, rounded up): mbufs with their headers, the ring
    behind them, and the per-lcore cache array when the pool has a cache."""
    mp = profile.mempool
    ring = 8 * (1 << mp.mbufs.bit_length())  # rte_ring of the next power of two above mbufs
    caches = RTE_MAX_LCORE * MEMPOOL_CACHE_BYTES if mp.cache else 0
    return -(-(mp.mbufs * (mp.data_room + MBUF_OVERHEAD) + ring + caches) // (1 << 20))


def memory_needed_mb(profile: Profile) -> int:
    """The least eal.memory_mb that holds the profile's pool plus EAL's own overhead (MB).

    Pure: the profile check at load and a host preflight (free hugepages before anything changes)
    both use this one figure."""
    return pool_mb(profile) + EAL_OVERHEAD_MB


def warnings_for(profile: Profile) -> list[str]:
    """What is allowed but almost certainly not meant: one line each, naming the key."""
    out = []
    if profile.rss.key is not None and not any(profile.rss.key):
        out.append("rss.key is all zeros: the Toeplitz hash of every packet is 0, so RSS sends every flow to the "
                   "queue of RETA entry 0 (the spread check will fail naming the key); use a random key, or leave "
                   "rss.key out for the PMD's default")
    return out


def mbufs_required(profile: Profile, n_ports: int, n_lcores: int) -> int:
    """Mbufs the rings, caches and in-flight bursts can hold at once.

    ``rx_desc*rx*n_ports + tx_desc*tx*n_ports + (burst+cache)*n_lcores + in_flight``
    """
    if n_ports < 0 or n_lcores < 0:
        raise ValueError("n_ports and n_lcores must be >= 0")
    q, mp = profile.queues, profile.mempool
    return (q.rx_desc * q.rx * n_ports + q.tx_desc * q.tx * n_ports
            + (q.burst + mp.cache) * n_lcores + q.in_flight)
