"""Readers for the profile keys a type and a range do not describe (lcores, PCI lists, RSS keys,
packet-rate targets, ...), and DPDK's rules they apply. Each is named in its key's declaration in
harness/profile/sections.py."""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import UsageError
from harness.frames import line_rate_pps  # frame size + 20 bytes of preamble and gap
from harness.profile.lcores import MAX_LCORE_ID, LcoreMap, check_lcore_count, default_lcores, read_lcores
from harness.profile.table import Bad, FrozenMap, Table, choice_error, desc, id_list, is_int, num, toml
from harness.system.pci import normalize_pci


class Section(Protocol):
    """The section being read (harness/profile/sections.py): a reader may ask for another key's value."""

    def get(self, name: str) -> Any: ...


RSS_HASH_FUNCTIONS = (
    "ip", "ipv4", "ipv6", "tcp", "udp", "sctp",
    "ipv4-tcp", "ipv4-udp", "ipv6-tcp", "ipv6-udp", "l2-payload",
)
LATENCY_PERCENTILES = ("p50", "p90", "p99", "p999", "max")
HUGEPAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}
RSS_KEY_LENGTHS = (40, 52)
DEFAULT_TX_THRESH = 32  # DEFAULT_TX_RS_THRESH / DEFAULT_TX_FREE_THRESH of ixgbe, i40e, ice


# EAL options the profile owns; passing them in extra_args would fight the profile.
EAL_OWNED = {
    "-l": "eal.lcores", "-c": "eal.lcores", "--lcores": "eal.lcores",
    "--main-lcore": "eal.main_lcore", "--master-lcore": "eal.main_lcore",
    "-m": "eal.memory_mb", "--socket-mem": "eal.memory_mb",
    "--no-huge": "eal.hugepages",
    "-a": "ports.pci", "--allow": "ports.pci", "-w": "ports.pci", "--pci-whitelist": "ports.pci",
    "--vdev": "ports.topology",
}


def owned_by(arg: str) -> str | None:
    if arg.startswith("--"):
        return EAL_OWNED.get(arg.split("=", 1)[0])
    if arg.startswith("-") and len(arg) >= 2:
        return EAL_OWNED.get(arg[:2])
    return None


def read_lcores_key(t: Table, k: str, sec: Section) -> tuple[LcoreMap, ...]:
    lcores = read_lcores(t.raw(k), t.key(k)) if t.has(k) else default_lcores()
    check_lcore_count(lcores, t.key(k))
    return lcores


def read_main_lcore(t: Table, k: str, sec: Section) -> int:
    ids = [m.lcore for m in sec.get("lcores")]
    main = t.get_int(k, 0, 0, MAX_LCORE_ID)
    if main not in ids:
        raise Bad(t.key(k), f"lcore {main} is not one of eal.lcores ({id_list(ids)})",
                  f"set main_lcore to one of {id_list(ids, min_run=99)} or add lcore {main} to eal.lcores")
    return main


def read_hugepage_size(t: Table, k: str, sec: Section) -> int:
    size_text = t.get_str(k, "2M")
    norm = size_text.strip().upper().removesuffix("B")
    if norm not in HUGEPAGE_SIZES_KB:
        raise Bad(t.key(k), f"{size_text!r} is not a hugepage size", 'write hugepage_size = "2M" or "1G"')
    return HUGEPAGE_SIZES_KB[norm]


def read_extra_args(t: Table, k: str, sec: Section) -> tuple[str, ...]:
    extra = t.get_list(k, ())
    for i, a in enumerate(extra):
        if not isinstance(a, str):
            raise Bad(f"{t.key(k)}[{i}]", f"expected a string, got {desc(a)}",
                      'write each EAL argument as a quoted string, e.g. extra_args = ["--iova-mode=va"]')
        owner = owned_by(a)
        if owner:
            raise Bad(f"{t.key(k)}[{i}]", f"{a!r} is set by the profile ({owner})",
                      f"remove it from extra_args and set {owner} instead")
    return tuple(extra)


def read_pci(t: Table, k: str, sec: Section) -> tuple[str, ...]:
    pci: list[str] = []
    first: dict[str, int] = {}
    for i, a in enumerate(t.get_list(k, ())):
        where = f"{t.key(k)}[{i}]"
        if not isinstance(a, str):
            raise Bad(where, f"expected a string, got {desc(a)}",
                      'write PCI addresses as quoted strings, e.g. pci = ["0000:03:00.0"]')
        try:
            addr = normalize_pci(a)
        except UsageError as e:
            problem, _, fix = str(e).partition("; ")
            raise Bad(where, problem, fix or None) from None
        if addr in first:
            raise Bad(where, f"{addr} is already listed as {t.key(k)}[{first[addr]}]", "list each port once")
        first[addr] = i
        pci.append(addr)
    return tuple(pci)


def tx_thresh_problem(nb_desc: int, rs: int, free: int) -> tuple[str, str] | None:
    """DPDK's tx threshold rules, as ixgbe/i40e/ice/idpf ``tx_queue_setup`` enforce them
    (0 = the PMD default, 32). Returns (key, one-line rule broken) or None. Only judged when
    the profile sets a threshold: PMDs with other defaults are then the user's explicit choice."""
    if not rs and not free:
        return None
    rs_v, free_v = rs or DEFAULT_TX_THRESH, free or DEFAULT_TX_THRESH
    shown = f"(tx_rs_thresh {rs_v}{'' if rs else ' by default'}, tx_free_thresh {free_v}" \
            f"{'' if free else ' by default'}, tx_desc {nb_desc})"
    if rs_v >= nb_desc - 2:
        return "tx_rs_thresh", f"DPDK requires tx_rs_thresh < tx_desc - 2 {shown}"
    if free_v >= nb_desc - 3:
        return "tx_free_thresh", f"DPDK requires tx_free_thresh < tx_desc - 3 {shown}"
    if rs_v > free_v:
        return "tx_rs_thresh", f"DPDK requires tx_rs_thresh <= tx_free_thresh {shown}"
    if nb_desc % rs_v:
        return "tx_rs_thresh", f"DPDK requires tx_rs_thresh to divide tx_desc {shown}"
    if rs_v + free_v > nb_desc:
        return "tx_free_thresh", f"DPDK requires tx_rs_thresh + tx_free_thresh <= tx_desc {shown}"
    return None


def read_socket(t: Table, k: str, sec: Section) -> int:
    v = t.raw(k, -1)
    if not is_int(v):
        raise t.type_bad(k, v, "an integer", -1)
    if v != -1 and not 0 <= v <= 63:
        raise Bad(t.key(k), f"{v} is out of range: must be -1 (any) or 0..63",
                  "use -1 for the port's own socket, or a NUMA node id 0..63")
    return v


DEFAULT_HASH_FUNCTIONS = ("ipv4", "tcp", "udp")


def read_hash_functions(t: Table, k: str, sec: Section) -> tuple[str, ...]:
    enabled = sec.get("enabled")
    funcs = t.get_list(k, DEFAULT_HASH_FUNCTIONS)
    seen: set[str] = set()
    for i, f in enumerate(funcs):
        where = f"{t.key(k)}[{i}]"
        if not isinstance(f, str):
            raise Bad(where, f"expected a string, got {desc(f)}",
                      f"write e.g. hash_functions = {toml(list(DEFAULT_HASH_FUNCTIONS))}")
        if f not in RSS_HASH_FUNCTIONS:
            raise choice_error(where, f, RSS_HASH_FUNCTIONS)
        if f in seen:
            raise Bad(where, f"{f!r} is listed twice", "list each hash function once")
        seen.add(f)
    if enabled and not funcs:
        raise Bad(t.key(k), "is empty but rss.enabled = true",
                  f"list the hash functions, e.g. hash_functions = {toml(list(DEFAULT_HASH_FUNCTIONS))}, "
                  "or set rss.enabled = false")
    return tuple(funcs)


def read_rss_key(t: Table, k: str, sec: Section) -> bytes | None:
    if not t.has(k):
        return None
    v = t.raw(k)
    fix = "write the key as 80 (40-byte) or 104 (52-byte) hex digits, ':' or spaces allowed between bytes"
    if not isinstance(v, str):
        raise Bad(t.key(k), f"expected a hex string, got {desc(v)}", fix)
    digits = re.sub(r"[\s:]", "", v)
    if not re.fullmatch(r"[0-9a-fA-F]*", digits):
        bad = next(c for c in digits if c not in "0123456789abcdefABCDEF")
        raise Bad(t.key(k), f"{bad!r} is not a hex digit", fix)
    if len(digits) % 2:
        raise Bad(t.key(k), f"has an odd number of hex digits ({len(digits)})", fix)
    value = bytes.fromhex(digits)
    if len(value) not in RSS_KEY_LENGTHS:
        raise Bad(t.key(k), f"is {len(value)} bytes; an RSS key is 40 bytes (most NICs) or 52 bytes (e.g. i40e, ice)",
                  fix)
    return value


def read_reta(t: Table, k: str, sec: Section) -> tuple[int, ...]:
    reta = t.get_list(k, ())
    for i, q in enumerate(reta):
        where = f"{t.key(k)}[{i}]"
        if not is_int(q):
            raise Bad(where, f"expected an integer, got {desc(q)}",
                      "write one rx queue number per RETA entry, e.g. reta = [0, 1, 2, 3]")
        if q < 0:
            raise Bad(where, f"{q} is out of range: must be >= 0", "use rx queue numbers 0..queues.rx-1")
    return tuple(reta)


@dataclass(frozen=True)
class PpsTarget:
    """One ``[[targets.pps]]`` table (keys documented in profiles/README.md below the [targets] table)."""
    frame_size: int
    pps: float
    line_rate: float | None = None      # given as this share of targets.link_gbps's line rate

    @property
    def mpps(self) -> float:
        return self.pps / 1e6

    def describe(self, link_gbps: float | None = None) -> str:
        """``14,136,905 pps (95% of the 10G line rate)`` or ``1,000,000 pps``."""
        text = f"{self.pps:,.0f} pps"
        if self.line_rate is not None and link_gbps:
            text += f" ({self.line_rate:.4g}x the {link_gbps:g}G line rate)"
        return text


PPS_KEYS = ("frame_size", "pps", "mpps", "line_rate")


def read_pps(t: Table, k: str, sec: Section) -> tuple[PpsTarget, ...]:
    link_gbps = sec.get("link_gbps")
    pps_key = t.key(k)
    raw = t.raw(k, [])
    if not isinstance(raw, (list, tuple)):
        raise Bad(pps_key, f"expected an array of tables [[targets.pps]], got {desc(raw)}",
                  "write each target as [[targets.pps]] with frame_size = 64 and pps = 1e6")
    pps: list[PpsTarget] = []
    first: dict[int, int] = {}
    for i, item in enumerate(raw):
        it = Table(item, f"{pps_key}[{i}]", PPS_KEYS, "[[targets.pps]]")
        size = it.get_int("frame_size", lo=64, hi=9728, example=64)
        if size in first:
            raise Bad(it.key("frame_size"), f"{size} is already targeted by {pps_key}[{first[size]}]",
                      "give each frame size once")
        first[size] = i
        given = [g for g in ("pps", "mpps", "line_rate") if it.has(g)]
        if len(given) != 1:
            problem = (f"gives both {given[0]} and {given[1]}" if given else "gives neither pps nor mpps")
            raise Bad(f"{pps_key}[{i}]", problem, "give exactly one, e.g. pps = 5e6 or mpps = 5.0 "
                      "(or line_rate = 0.95, a share of targets.link_gbps)")
        share = None
        if given[0] == "pps":
            rate = it.get_float("pps", lo=0, lo_open=True, example=1e6)
        elif given[0] == "mpps":
            rate = it.get_float("mpps", lo=0, lo_open=True, example=1.0) * 1e6
        else:
            share = it.get_float("line_rate", lo=0, hi=1, lo_open=True, example=0.95)
            if link_gbps is None:
                raise Bad(it.key("line_rate"), "is a share of the line rate but targets.link_gbps is not set",
                          "add link_gbps = 10 (the link speed in Gbit/s) to [targets], or give pps instead")
            rate = share * line_rate_pps(link_gbps, size)
        pps.append(PpsTarget(frame_size=size, pps=rate, line_rate=share))
    return tuple(sorted(pps, key=lambda p: p.frame_size))


def read_latency(t: Table, k: str, sec: Section) -> Mapping[str, float]:
    lat = Table(t.raw(k), t.key(k), LATENCY_PERCENTILES, "[targets.latency_us]")
    latency: dict[str, float] = {}
    for p in LATENCY_PERCENTILES:
        if lat.has(p):
            latency[p] = lat.get_float(p, lo=0, lo_open=True, example=50.0)
    order = [p for p in LATENCY_PERCENTILES if p in latency]
    for lower, higher in itertools.pairwise(order):
        if latency[higher] < latency[lower]:
            raise Bad(lat.key(higher), f"{num(latency[higher])} is below {lower} = {num(latency[lower])}, "
                      "and a higher percentile cannot be lower",
                      f"raise {higher} to at least {num(latency[lower])} or lower {lower}")
    return FrozenMap(latency)


def read_tolerance(t: Table, k: str, sec: Section) -> float:
    """0 <= tolerance < 1: at 1 or more, target x (1 - tolerance) <= 0 and every throughput check passes."""
    v = t.raw(k, 0.05)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v < float("inf"):
        raise Bad(t.key(k), f"{num(v)} accepts any rate: target x (1 - tolerance) is <= 0, so every throughput "
                  "check passes whatever is measured", "use a fraction below 1, e.g. tolerance = 0.05 (5 % below "
                  "the target)")
    return t.get_float(k, 0.05, 0, 1, hi_open=True)
