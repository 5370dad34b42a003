"""Deployment profile: TOML -> frozen, validated dataclasses.

A profile says what is under test (EAL, ports, queues, mempool, RSS) and what it must
achieve (targets, measurement settings).  Loading is strict: an unknown key, a wrong
type or an impossible value raises :class:`~harness.errors.ProfileError` whose message
is one line naming the file, the dotted key, the problem and the fix::

    profiles/x.toml: queues.rx_dsec: unknown key; did you mean 'rx_desc'? known keys in [queues]: rx, tx, ...

Every key, its type, default and range is documented in ``profiles/README.md``.

Validation happens here, in the parse layer (``parse_profile`` / ``load_profile`` /
``Profile.with_overrides``); the dataclasses themselves are plain frozen records.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import pathlib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness import registry
from harness.errors import ProfileError, UsageError
from harness.frames import line_rate_pps  # frame size + 20 bytes of preamble and gap
from harness.system.pci import normalize_pci

__all__ = [
    "DUT_MODES",
    "LATENCY_PERCENTILES",
    "LOG_LEVELS",
    "LOOPBACKS",
    "RSS_HASH_FUNCTIONS",
    "SEARCHES",
    "TOPOLOGIES",
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
    "parse_lcores",
    "parse_profile",
]

TOPOLOGIES = tuple(registry.TOPOLOGIES)  # harness/registry.py: the one list
LOOPBACKS = ("none", "cable", "internal")
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
RSS_HASH_FUNCTIONS = (
    "ip", "ipv4", "ipv6", "tcp", "udp", "sctp",
    "ipv4-tcp", "ipv4-udp", "ipv6-tcp", "ipv6-udp", "l2-payload",
)
LATENCY_PERCENTILES = ("p50", "p90", "p99", "p999", "max")
SEARCHES = ("ci", "rfc2544")            # harness.perf.SEARCH_PROFILES
DUT_MODES = ("ports", "testpmd-memif")  # what the throughput suite measures through
LINK_GBPS = (1.0, 400.0)
HUGEPAGE_SIZES_KB = {"2M": 2048, "1G": 1048576}
RSS_KEY_LENGTHS = (40, 52)

MAX_LCORE_ID = 1023        # CPU_SETSIZE - 1; DPDK builds default to RTE_MAX_LCORE = 128
MAX_CPU_ID = 1023
MBUF_HEADROOM = 128        # RTE_PKTMBUF_HEADROOM
MBUF_OVERHEAD = 128 + 64   # struct rte_mbuf + mempool object header, per mbuf (lower bound)
MEMPOOL_CACHE_MAX = 512    # RTE_MEMPOOL_CACHE_MAX_SIZE
ETHER_OVERHEAD = 18        # Ethernet header (14) + CRC (4): largest frame = mtu + 18

_PROFILE_FIX = "pass --dpdk-profile with the path of a TOML profile (see profiles/)"


# --------------------------------------------------------------------------- records


class FrozenMap(Mapping):
    """A read-only, hashable mapping (so frozen dataclasses holding one stay hashable)."""

    __slots__ = ("_d",)

    def __init__(self, items: Mapping | Iterable[tuple[Any, Any]] = ()):
        self._d = dict(items)

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self) -> Iterator:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return hash(frozenset(self._d.items()))

    def __eq__(self, other):
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._d!r})"


@dataclass(frozen=True)
class LcoreMap:
    """One EAL lcore and the set of CPUs its thread may run on."""

    lcore: int
    cpus: frozenset[int]


def _default_lcores() -> tuple[LcoreMap, ...]:
    return (LcoreMap(0, frozenset({0})), LcoreMap(1, frozenset({1})))


@dataclass(frozen=True)
class EalConfig:
    lcores: tuple[LcoreMap, ...] = field(default_factory=_default_lcores)
    main_lcore: int = 0
    memory_mb: int = 256
    hugepages: bool = True
    hugepage_size_kb: int = 2048
    log_level: str = "notice"
    extra_args: tuple[str, ...] = ()
    max_involuntary_ctx_switches_per_s: float = 1000.0

    def lcores_arg(self) -> str:
        """The EAL ``--lcores`` value, explicit form: ``"0@0,1@1"``, ``"1@(0,1)"``."""
        parts = []
        for m in self.lcores:
            cpus = sorted(m.cpus)
            if len(cpus) == 1:
                parts.append(f"{m.lcore}@{cpus[0]}")
            else:
                parts.append(f"{m.lcore}@({_id_list(cpus, min_run=3)})")
        return ",".join(parts)

    def lcore_ids(self) -> tuple[int, ...]:
        return tuple(m.lcore for m in self.lcores)

    def worker_lcores(self) -> tuple[int, ...]:
        return tuple(m.lcore for m in self.lcores if m.lcore != self.main_lcore)

    def cpus(self) -> frozenset[int]:
        out: set[int] = set()
        for m in self.lcores:
            out |= m.cpus
        return frozenset(out)


@dataclass(frozen=True)
class PortsConfig:
    topology: str = registry.DEFAULT_TOPOLOGY
    pci: tuple[str, ...] = ()
    loopback: str = "none"
    lpbk_mode: int = 0
    promiscuous: bool = True
    link_timeout_s: float = 5.0

    @property
    def nic_mode(self) -> bool:
        """True when the profile tests physical NIC ports (``pci`` is not empty)."""
        return bool(self.pci)


@dataclass(frozen=True)
class QueuesConfig:
    rx: int = 1
    tx: int = 1
    rx_desc: int = 1024
    tx_desc: int = 1024
    burst: int = 32
    tx_free_thresh: int = 0
    tx_rs_thresh: int = 0
    in_flight: int = 0


@dataclass(frozen=True)
class MempoolConfig:
    mbufs: int = 8191
    cache: int = 256
    data_room: int = 2176
    socket: int = -1
    mtu: int = 1500
    scatter: bool = False


@dataclass(frozen=True)
class RssConfig:
    enabled: bool = True
    hash_functions: tuple[str, ...] = ("ipv4", "tcp", "udp")
    key: bytes | None = None
    reta: tuple[int, ...] = ()
    symmetric: bool = False
    flows: int = 1024
    min_p_value: float = 0.01
    max_ratio: float = 1.5


@dataclass(frozen=True)
class PpsTarget:
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


@dataclass(frozen=True)
class Targets:
    tolerance: float = 0.05
    loss: float = 0.0
    pps: tuple[PpsTarget, ...] = ()
    latency_us: Mapping[str, float] = FrozenMap()
    link_gbps: float | None = None      # link speed line-rate targets are a share of

    def pps_for(self, frame_size: int) -> PpsTarget | None:
        for t in self.pps:
            if t.frame_size == frame_size:
                return t
        return None


@dataclass(frozen=True)
class MeasureConfig:
    duration_s: float = 1.0
    repeats: int = 3
    warmup_s: float = 0.2
    search: str = "ci"                  # throughput search profile: "ci" (short trials) or "rfc2544" (60 s)
    trial_s: float | None = None        # trial duration; None: the search profile's
    latency_load: float = 0.9           # latency is measured at this fraction of the NDR
    pdr_loss: float = 0.005             # loss ratio of the partial drop rate (PDR); 0: no PDR search
    dut: str = "ports"                  # "ports": the profile's ports; "testpmd-memif": dpdk-testpmd over memif


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
                maps = _parse_lcores(lcores, "--lcores")
                _check_lcore_count(maps, "--lcores")
            except _Bad as b:
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
            _check_ports(new.ports)
            _cross_check(new)
        except _Bad as b:
            raise ProfileError(self.path, b.key, b.problem, b.fix) from None
        return new


# --------------------------------------------------------------------------- helpers


class _Bad(Exception):
    """Internal: a validation failure, before the file path is known."""

    def __init__(self, key: str | None, problem: str, fix: str | None = None):
        super().__init__(key, problem, fix)
        self.key, self.problem, self.fix = key, problem, fix

    def line(self) -> str:
        msg = f"{self.key}: {self.problem}" if self.key else self.problem
        return f"{msg}; {self.fix}" if self.fix else msg


def _lit(v: Any) -> str:
    """A value as it would be written in TOML (strings as Python repr, as in the messages)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {_lit(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _toml(v: Any) -> str:
    """A value in real TOML syntax, for fixes the user can paste."""
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return _lit(v)


def _type_name(v: Any) -> str:
    if isinstance(v, Mapping):
        return "table"
    if isinstance(v, (list, tuple)):
        return "array"
    return type(v).__name__


def _desc(v: Any) -> str:
    text = _lit(v)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_type_name(v)})"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(v: float) -> str:
    """Numbers in messages: 5.0 -> 5, 0.05 -> 0.05."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _id_list(ids: Iterable[int], min_run: int = 2) -> str:
    """Sorted ids as a compact list: runs of at least ``min_run`` become ``a-b``."""
    ids = sorted(set(ids))
    out: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j - i + 1 >= min_run and j > i:
            out.append(f"{ids[i]}-{ids[j]}")
        else:
            out.extend(str(x) for x in ids[i : j + 1])
        i = j + 1
    return ",".join(out)


def _range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is not None and hi is not None and not lo_open and not hi_open:
        return f"{_num(lo)}..{_num(hi)}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_num(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_num(hi)}")
    return " and ".join(parts)


def _in_range(v, lo, hi, lo_open=False, hi_open=False) -> bool:
    if lo is not None and (v <= lo if lo_open else v < lo):
        return False
    return not (hi is not None and (v >= hi if hi_open else v > hi))


def _range_error(key, v, lo, hi, lo_open=False, hi_open=False, default=None) -> _Bad:
    text = _range_text(lo, hi, lo_open, hi_open)
    closed = lo is not None and hi is not None and not lo_open and not hi_open
    problem = f"{_num(v)} is out of range {text}" if closed else f"{_num(v)} is out of range: must be {text}"
    fix = f"use a value {'in ' if closed else ''}{text}"
    if default is not None:
        fix += f" (default {_lit(default)})"
    return _Bad(key, problem, fix)


_MISSING = object()


class _Table:
    """One TOML table being read: unknown keys are rejected up front."""

    def __init__(self, data: Any, prefix: str, known: Sequence[str], label: str):
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise _Bad(prefix, f"expected a table {label}, got {_desc(data)}", f"write it as a {label} section")
        self.data, self.prefix, self.known, self.label = data, prefix, tuple(known), label
        for k in data:
            if k not in self.known:
                raise _unknown_key(self.key(k), str(k), self.known, f"known keys in {label}")

    def key(self, k: str) -> str:
        return f"{self.prefix}.{k}" if self.prefix else k

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str, default: Any = None) -> Any:
        return self.data.get(k, default)

    def _type_bad(self, k: str, v: Any, kind: str, example: Any) -> _Bad:
        fix = f"write e.g. {k} = {_toml(example)}" if example is not _MISSING else f"write {kind}"
        return _Bad(self.key(k), f"expected {kind}, got {_desc(v)}", fix)

    def get_int(self, k, default=_MISSING, lo=None, hi=None, example=_MISSING) -> int:
        v = self.data.get(k, default)
        if v is _MISSING:
            raise _Bad(self.key(k), "is missing", f"add {k} = {_toml(example)}")
        if not _is_int(v):
            raise self._type_bad(k, v, "an integer", default if example is _MISSING else example)
        if not _in_range(v, lo, hi):
            raise _range_error(self.key(k), v, lo, hi, default=None if default is _MISSING else default)
        return v

    def get_float(self, k, default=_MISSING, lo=None, hi=None, lo_open=False, hi_open=False,
                  example=_MISSING) -> float:
        v = self.data.get(k, default)
        if v is _MISSING:
            raise _Bad(self.key(k), "is missing", f"add {k} = {_toml(example)}")
        return _check_float(self.key(k), k, v, lo, hi, lo_open, hi_open,
                            None if default is _MISSING else default,
                            default if example is _MISSING else example)

    def get_bool(self, k, default: bool) -> bool:
        v = self.data.get(k, default)
        if not isinstance(v, bool):
            raise _Bad(self.key(k), f"expected true or false, got {_desc(v)}",
                       f"write {k} = true or {k} = false, without quotes")
        return v

    def get_str(self, k, default: str, choices: Sequence[str] | None = None) -> str:
        v = self.data.get(k, default)
        if not isinstance(v, str):
            raise self._type_bad(k, v, "a string", default)
        if choices is not None and v not in choices:
            raise _choice_error(self.key(k), v, choices)
        return v

    def get_list(self, k, default: Sequence) -> list:
        v = self.data.get(k, _MISSING)
        if v is _MISSING:
            return list(default)
        if not isinstance(v, (list, tuple)):
            raise self._type_bad(k, v, "an array", list(default) or ["..."])
        return list(v)


def _check_float(key, short, v, lo, hi, lo_open, hi_open, default, example) -> float:
    if not _is_num(v):
        raise _Bad(key, f"expected a number, got {_desc(v)}", f"write e.g. {short} = {_toml(example)}")
    if not math.isfinite(v):
        raise _Bad(key, f"{v!r} is not a finite number", f"write e.g. {short} = {_toml(example)}")
    if not _in_range(v, lo, hi, lo_open, hi_open):
        raise _range_error(key, v, lo, hi, lo_open, hi_open, default)
    return float(v)


def _unknown_key(key: str, name: str, known: Sequence[str], known_label: str, what: str = "key") -> _Bad:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}? " if close else ""
    fix += f"{known_label}: {', '.join(known)}"
    return _Bad(key, f"unknown {what}", fix)


def _choice_error(key: str, v: str, choices: Sequence[str]) -> _Bad:
    close = difflib.get_close_matches(v, choices, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}? " if close else ""
    return _Bad(key, f"{v!r} is not one of {', '.join(choices)}", fix + "choose one of those")


# --------------------------------------------------------------------------- lcores

_NUM = r"\d+"
_RANGE = rf"{_NUM}(?:-{_NUM})?"
_GROUP = rf"\({_RANGE}(?:,{_RANGE})*\)"
_ITEM_RE = re.compile(rf"(?P<l>{_RANGE}|{_GROUP})(?:@(?P<c>{_NUM}|{_GROUP}))?")
_LCORES_FIX = ('write comma-separated items L, L-M, L@C or L@(C1,C2-C3), '
               'e.g. "0-1", "0@0,1@1" or "1@(0,1)"')


def _split_top(s: str) -> list[str]:
    items, cur, depth = [], [], 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    return items


def _expand(text: str, key: str, what: str, limit: int) -> list[int]:
    body = text[1:-1] if text.startswith("(") else text
    out: list[int] = []
    for part in body.split(","):
        a, _, b = part.partition("-")
        lo = int(a)
        hi = int(b) if b else lo
        if hi < lo:
            raise _Bad(key, f"range {part} runs backwards", f"write {hi}-{lo}")
        if hi > limit:
            raise _Bad(key, f"{what} {hi} is out of range 0..{limit}", f"use {what} ids up to {limit}")
        out.extend(range(lo, hi + 1))
    return out


def _parse_lcores(text: Any, key: str) -> tuple[LcoreMap, ...]:
    if not isinstance(text, str):
        raise _Bad(key, f"expected a string, got {_desc(text)}", _LCORES_FIX)
    s = re.sub(r"\s+", "", text)
    if not s:
        raise _Bad(key, "is empty", _LCORES_FIX)
    seen: set[int] = set()
    maps: list[LcoreMap] = []
    for item in _split_top(s):
        m = _ITEM_RE.fullmatch(item)
        if not m:
            what = f"empty item in {text!r}" if not item else f"cannot parse {item!r} in {text!r}"
            raise _Bad(key, what, _LCORES_FIX)
        lset = _expand(m["l"], key, "lcore", MAX_LCORE_ID)
        group_cpus = None
        if m["c"] is not None:
            group_cpus = frozenset(_expand(m["c"], key, "CPU", MAX_CPU_ID))
        elif m["l"].startswith("("):
            group_cpus = frozenset(lset)  # DPDK: "(0,1)" without @ puts each lcore on all of them
        for lc in lset:
            if lc in seen:
                raise _Bad(key, f"lcore {lc} is given twice in {text!r}", "give each lcore id once")
            seen.add(lc)
            maps.append(LcoreMap(lc, group_cpus if group_cpus is not None else frozenset({lc})))
    return tuple(sorted(maps, key=lambda lm: lm.lcore))


def _check_lcore_count(maps: Sequence[LcoreMap], key: str) -> None:
    if len(maps) < 2:
        raise _Bad(
            key,
            f"{len(maps)} lcore given; the harness needs at least 2 "
            "(the main lcore plus a worker lcore for the traffic loops)",
            'e.g. "0-1", or "0@0,1@0" on a host with one CPU',
        )


def parse_lcores(text: str) -> tuple[LcoreMap, ...]:
    """Parse EAL ``--lcores`` syntax; raise a one-line :class:`UsageError` if malformed."""
    try:
        return _parse_lcores(text, "lcores")
    except _Bad as b:
        raise UsageError(b.line()) from None


def format_lcores(maps: Sequence[LcoreMap]) -> str:
    """A readable lcore string: ``"0-3"`` when every lcore is on its own CPU, else explicit."""
    maps = sorted(maps, key=lambda lm: lm.lcore)
    if all(m.cpus == frozenset({m.lcore}) for m in maps):
        return _id_list((m.lcore for m in maps), min_run=2)
    parts = []
    for m in maps:
        if len(m.cpus) == 1:
            parts.append(f"{m.lcore}@{next(iter(m.cpus))}")
        else:
            parts.append(f"{m.lcore}@({_id_list(m.cpus, min_run=3)})")
    return ",".join(parts)


# --------------------------------------------------------------------------- sections

_TOP_KEYS = ("name", "description")
_SECTIONS = ("eal", "ports", "queues", "mempool", "rss", "targets", "measure")
_EAL_KEYS = ("lcores", "main_lcore", "memory_mb", "hugepages", "hugepage_size", "log_level", "extra_args",
             "max_involuntary_ctx_switches_per_s")
_PORTS_KEYS = ("topology", "pci", "loopback", "lpbk_mode", "promiscuous", "link_timeout_s")
_QUEUES_KEYS = ("rx", "tx", "rx_desc", "tx_desc", "burst", "tx_free_thresh", "tx_rs_thresh", "in_flight")
_MEMPOOL_KEYS = ("mbufs", "cache", "data_room", "socket", "mtu", "scatter")
_RSS_KEYS = ("enabled", "hash_functions", "key", "reta", "symmetric", "flows", "min_p_value", "max_ratio")
_TARGETS_KEYS = ("tolerance", "loss", "pps", "latency_us", "link_gbps")
_PPS_KEYS = ("frame_size", "pps", "mpps", "line_rate")
_MEASURE_KEYS = ("duration_s", "repeats", "warmup_s", "search", "trial_s", "latency_load", "pdr_loss", "dut")

# EAL options the profile owns; passing them in extra_args would fight the profile.
_EAL_OWNED = {
    "-l": "eal.lcores", "-c": "eal.lcores", "--lcores": "eal.lcores",
    "--main-lcore": "eal.main_lcore", "--master-lcore": "eal.main_lcore",
    "-m": "eal.memory_mb", "--socket-mem": "eal.memory_mb",
    "--no-huge": "eal.hugepages",
    "-a": "ports.pci", "--allow": "ports.pci", "-w": "ports.pci", "--pci-whitelist": "ports.pci",
    "--vdev": "ports.topology",
}


def _owned_by(arg: str) -> str | None:
    if arg.startswith("--"):
        return _EAL_OWNED.get(arg.split("=", 1)[0])
    if arg.startswith("-") and len(arg) >= 2:
        return _EAL_OWNED.get(arg[:2])
    return None


def _parse_eal(t: _Table) -> EalConfig:
    d = EalConfig()
    lcores = d.lcores
    if t.has("lcores"):
        lcores = _parse_lcores(t.raw("lcores"), t.key("lcores"))
    _check_lcore_count(lcores, t.key("lcores"))
    main = t.get_int("main_lcore", d.main_lcore, 0, MAX_LCORE_ID)
    ids = [m.lcore for m in lcores]
    if main not in ids:
        raise _Bad(t.key("main_lcore"), f"lcore {main} is not one of eal.lcores ({_id_list(ids)})",
                   f"set main_lcore to one of {_id_list(ids, min_run=99)} or add lcore {main} to eal.lcores")
    memory = t.get_int("memory_mb", d.memory_mb, 16, 1048576)
    huge = t.get_bool("hugepages", d.hugepages)
    size_text = t.get_str("hugepage_size", "2M")
    norm = size_text.strip().upper().removesuffix("B")
    if norm not in HUGEPAGE_SIZES_KB:
        raise _Bad(t.key("hugepage_size"), f"{size_text!r} is not a hugepage size",
                   'write hugepage_size = "2M" or "1G"')
    level = t.get_str("log_level", d.log_level, LOG_LEVELS)
    extra = t.get_list("extra_args", ())
    for i, a in enumerate(extra):
        if not isinstance(a, str):
            raise _Bad(f"{t.key('extra_args')}[{i}]", f"expected a string, got {_desc(a)}",
                       'write each EAL argument as a quoted string, e.g. extra_args = ["--iova-mode=va"]')
        owner = _owned_by(a)
        if owner:
            raise _Bad(f"{t.key('extra_args')}[{i}]", f"{a!r} is set by the profile ({owner})",
                       f"remove it from extra_args and set {owner} instead")
    ctx = t.get_float("max_involuntary_ctx_switches_per_s", EalConfig.max_involuntary_ctx_switches_per_s,
                      0, 1e9, lo_open=True)
    return EalConfig(lcores=lcores, main_lcore=main, memory_mb=memory, hugepages=huge,
                     hugepage_size_kb=HUGEPAGE_SIZES_KB[norm], log_level=level, extra_args=tuple(extra),
                     max_involuntary_ctx_switches_per_s=ctx)


def _parse_ports(t: _Table) -> PortsConfig:
    d = PortsConfig()
    topology = t.get_str("topology", d.topology, TOPOLOGIES)
    raw_pci = t.get_list("pci", ())
    pci: list[str] = []
    first: dict[str, int] = {}
    for i, a in enumerate(raw_pci):
        key = f"{t.key('pci')}[{i}]"
        if not isinstance(a, str):
            raise _Bad(key, f"expected a string, got {_desc(a)}",
                       'write PCI addresses as quoted strings, e.g. pci = ["0000:03:00.0"]')
        try:
            addr = normalize_pci(a)
        except UsageError as e:
            problem, _, fix = str(e).partition("; ")
            raise _Bad(key, problem, fix or None) from None
        if addr in first:
            raise _Bad(key, f"{addr} is already listed as {t.key('pci')}[{first[addr]}]", "list each port once")
        first[addr] = i
        pci.append(addr)
    ports = PortsConfig(
        topology=topology,
        pci=tuple(pci),
        loopback=t.get_str("loopback", d.loopback, LOOPBACKS),
        lpbk_mode=t.get_int("lpbk_mode", d.lpbk_mode, 0, 255),
        promiscuous=t.get_bool("promiscuous", d.promiscuous),
        link_timeout_s=t.get_float("link_timeout_s", d.link_timeout_s, 0, 600, lo_open=True),
    )
    _check_ports(ports)
    return ports


def _check_ports(p: PortsConfig) -> None:
    if p.loopback != "none" and not p.nic_mode:
        raise _Bad("ports.loopback", f"{p.loopback!r} needs NIC ports but ports.pci is empty",
                   'list the ports in ports.pci (or pass --nic), or set loopback = "none"')
    if p.loopback == "internal" and p.lpbk_mode == 0:
        raise _Bad("ports.lpbk_mode", 'must be > 0 when ports.loopback = "internal"',
                   "set lpbk_mode to the PMD's internal loopback mode (often 1; see the NIC guide)")
    if p.loopback != "internal" and p.lpbk_mode != 0:
        raise _Bad("ports.lpbk_mode", f'{p.lpbk_mode} is only used with ports.loopback = "internal" '
                   f'(loopback is {p.loopback!r})', 'set lpbk_mode = 0 or loopback = "internal"')


def _parse_queues(t: _Table) -> QueuesConfig:
    d = QueuesConfig()
    q = QueuesConfig(
        rx=t.get_int("rx", d.rx, 1, 1024),
        tx=t.get_int("tx", d.tx, 1, 1024),
        rx_desc=t.get_int("rx_desc", d.rx_desc, 1, 65535),
        tx_desc=t.get_int("tx_desc", d.tx_desc, 1, 65535),
        burst=t.get_int("burst", d.burst, 1, 512),
        tx_free_thresh=t.get_int("tx_free_thresh", d.tx_free_thresh, 0, 65535),
        tx_rs_thresh=t.get_int("tx_rs_thresh", d.tx_rs_thresh, 0, 65535),
        in_flight=t.get_int("in_flight", d.in_flight, 0),
    )
    problem = tx_thresh_problem(q.tx_desc, q.tx_rs_thresh, q.tx_free_thresh)
    if problem:
        key, text = problem
        raise _Bad(t.key(key), text, "fix the thresholds (0 = the PMD's default of "
                   f"{DEFAULT_TX_THRESH}) or queues.tx_desc")
    return q


DEFAULT_TX_THRESH = 32  # DEFAULT_TX_RS_THRESH / DEFAULT_TX_FREE_THRESH of ixgbe, i40e, ice


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


def _parse_mempool(t: _Table) -> MempoolConfig:
    d = MempoolConfig()
    mp = MempoolConfig(
        mbufs=t.get_int("mbufs", d.mbufs, 1),
        cache=t.get_int("cache", d.cache, 0, 65535),  # DPDK's limits are judged by suites/mempool
        data_room=t.get_int("data_room", d.data_room, 128, 65535),
        socket=_get_socket(t, d.socket),
        mtu=t.get_int("mtu", d.mtu, 68, 16000),
        scatter=t.get_bool("scatter", d.scatter),
    )
    return mp


def _get_socket(t: _Table, default: int) -> int:
    v = t.raw("socket", default)
    if not _is_int(v):
        raise t._type_bad("socket", v, "an integer", default)
    if v != -1 and not 0 <= v <= 63:
        raise _Bad(t.key("socket"), f"{v} is out of range: must be -1 (any) or 0..63",
                   "use -1 for the port's own socket, or a NUMA node id 0..63")
    return v


def _parse_rss(t: _Table) -> RssConfig:
    d = RssConfig()
    enabled = t.get_bool("enabled", d.enabled)
    funcs = t.get_list("hash_functions", d.hash_functions)
    seen: set[str] = set()
    for i, f in enumerate(funcs):
        key = f"{t.key('hash_functions')}[{i}]"
        if not isinstance(f, str):
            raise _Bad(key, f"expected a string, got {_desc(f)}",
                       f"write e.g. hash_functions = {_toml(list(d.hash_functions))}")
        if f not in RSS_HASH_FUNCTIONS:
            raise _choice_error(key, f, RSS_HASH_FUNCTIONS)
        if f in seen:
            raise _Bad(key, f"{f!r} is listed twice", "list each hash function once")
        seen.add(f)
    if enabled and not funcs:
        raise _Bad(t.key("hash_functions"), "is empty but rss.enabled = true",
                   f"list the hash functions, e.g. hash_functions = {_toml(list(d.hash_functions))}, "
                   "or set rss.enabled = false")
    return RssConfig(
        enabled=enabled,
        hash_functions=tuple(funcs),
        key=_get_rss_key(t),
        reta=_get_reta(t),
        symmetric=t.get_bool("symmetric", d.symmetric),
        flows=t.get_int("flows", d.flows, 1, 1_000_000),
        min_p_value=t.get_float("min_p_value", d.min_p_value, 0, 1, lo_open=True, hi_open=True),
        max_ratio=t.get_float("max_ratio", d.max_ratio, 1),
    )


def _get_rss_key(t: _Table) -> bytes | None:
    if not t.has("key"):
        return None
    v = t.raw("key")
    k = t.key("key")
    fix = "write the key as 80 (40-byte) or 104 (52-byte) hex digits, ':' or spaces allowed between bytes"
    if not isinstance(v, str):
        raise _Bad(k, f"expected a hex string, got {_desc(v)}", fix)
    digits = re.sub(r"[\s:]", "", v)
    if not re.fullmatch(r"[0-9a-fA-F]*", digits):
        bad = next(c for c in digits if c not in "0123456789abcdefABCDEF")
        raise _Bad(k, f"{bad!r} is not a hex digit", fix)
    if len(digits) % 2:
        raise _Bad(k, f"has an odd number of hex digits ({len(digits)})", fix)
    key = bytes.fromhex(digits)
    if len(key) not in RSS_KEY_LENGTHS:
        raise _Bad(k, f"is {len(key)} bytes; an RSS key is 40 bytes (most NICs) or 52 bytes (e.g. i40e, ice)", fix)
    return key


def _get_reta(t: _Table) -> tuple[int, ...]:
    reta = t.get_list("reta", ())
    for i, q in enumerate(reta):
        key = f"{t.key('reta')}[{i}]"
        if not _is_int(q):
            raise _Bad(key, f"expected an integer, got {_desc(q)}",
                       "write one rx queue number per RETA entry, e.g. reta = [0, 1, 2, 3]")
        if q < 0:
            raise _Bad(key, f"{q} is out of range: must be >= 0", "use rx queue numbers 0..queues.rx-1")
    return tuple(reta)


def _parse_targets(t: _Table) -> Targets:
    d = Targets()
    tolerance = t.get_float("tolerance", d.tolerance, 0, 1)
    loss = t.get_float("loss", d.loss, 0, 1)
    link_gbps = None
    if t.has("link_gbps"):
        link_gbps = t.get_float("link_gbps", lo=LINK_GBPS[0], hi=LINK_GBPS[1], example=10)
    pps_key = t.key("pps")
    raw = t.raw("pps", [])
    if not isinstance(raw, (list, tuple)):
        raise _Bad(pps_key, f"expected an array of tables [[targets.pps]], got {_desc(raw)}",
                   "write each target as [[targets.pps]] with frame_size = 64 and pps = 1e6")
    pps: list[PpsTarget] = []
    first: dict[int, int] = {}
    for i, item in enumerate(raw):
        it = _Table(item, f"{pps_key}[{i}]", _PPS_KEYS, "[[targets.pps]]")
        size = it.get_int("frame_size", lo=64, hi=9728, example=64)
        if size in first:
            raise _Bad(it.key("frame_size"), f"{size} is already targeted by {pps_key}[{first[size]}]",
                       "give each frame size once")
        first[size] = i
        given = [k for k in ("pps", "mpps", "line_rate") if it.has(k)]
        if len(given) != 1:
            problem = (f"gives both {given[0]} and {given[1]}" if given else "gives neither pps nor mpps")
            raise _Bad(f"{pps_key}[{i}]", problem, "give exactly one, e.g. pps = 5e6 or mpps = 5.0 "
                       "(or line_rate = 0.95, a share of targets.link_gbps)")
        share = None
        if given[0] == "pps":
            rate = it.get_float("pps", lo=0, lo_open=True, example=1e6)
        elif given[0] == "mpps":
            rate = it.get_float("mpps", lo=0, lo_open=True, example=1.0) * 1e6
        else:
            share = it.get_float("line_rate", lo=0, hi=1, lo_open=True, example=0.95)
            if link_gbps is None:
                raise _Bad(it.key("line_rate"), "is a share of the line rate but targets.link_gbps is not set",
                           "add link_gbps = 10 (the link speed in Gbit/s) to [targets], or give pps instead")
            rate = share * line_rate_pps(link_gbps, size)
        pps.append(PpsTarget(frame_size=size, pps=rate, line_rate=share))
    lat = _Table(t.raw("latency_us"), t.key("latency_us"), LATENCY_PERCENTILES, "[targets.latency_us]")
    latency: dict[str, float] = {}
    for p in LATENCY_PERCENTILES:
        if lat.has(p):
            latency[p] = lat.get_float(p, lo=0, lo_open=True, example=50.0)
    order = [p for p in LATENCY_PERCENTILES if p in latency]
    for lower, higher in itertools.pairwise(order):
        if latency[higher] < latency[lower]:
            raise _Bad(lat.key(higher), f"{_num(latency[higher])} is below {lower} = {_num(latency[lower])}, "
                       "and a higher percentile cannot be lower",
                       f"raise {higher} to at least {_num(latency[lower])} or lower {lower}")
    return Targets(tolerance=tolerance, loss=loss,
                   pps=tuple(sorted(pps, key=lambda p: p.frame_size)), latency_us=FrozenMap(latency),
                   link_gbps=link_gbps)


def _parse_measure(t: _Table) -> MeasureConfig:
    d = MeasureConfig()
    return MeasureConfig(
        duration_s=t.get_float("duration_s", d.duration_s, 0.05, 3600),
        repeats=t.get_int("repeats", d.repeats, 1, 100),
        warmup_s=t.get_float("warmup_s", d.warmup_s, 0, 60),
        search=t.get_str("search", d.search, SEARCHES),
        trial_s=t.get_float("trial_s", lo=0.01, hi=3600, example=0.1) if t.has("trial_s") else None,
        latency_load=t.get_float("latency_load", d.latency_load, 0, 1, lo_open=True),
        pdr_loss=t.get_float("pdr_loss", d.pdr_loss, 0, 1, hi_open=True),
        dut=t.get_str("dut", d.dut, DUT_MODES),
    )


_PARSERS = {
    "eal": _parse_eal, "ports": _parse_ports, "queues": _parse_queues, "mempool": _parse_mempool,
    "rss": _parse_rss, "targets": _parse_targets, "measure": _parse_measure,
}
_SECTION_KEYS = {
    "eal": _EAL_KEYS, "ports": _PORTS_KEYS, "queues": _QUEUES_KEYS, "mempool": _MEMPOOL_KEYS,
    "rss": _RSS_KEYS, "targets": _TARGETS_KEYS, "measure": _MEASURE_KEYS,
}


def _cross_check(p: Profile) -> None:
    """Rules that involve keys in more than one section; each error names both keys."""
    for i, q in enumerate(p.rss.reta):
        if q >= p.queues.rx:
            raise _Bad(f"rss.reta[{i}]", f"sends to rx queue {q} but queues.rx is {p.queues.rx} "
                       f"(queues 0..{p.queues.rx - 1})", "lower the entry or raise queues.rx")
    per_mbuf = p.mempool.data_room + MBUF_OVERHEAD
    need_mb = -(-p.mempool.mbufs * per_mbuf // (1 << 20))
    if need_mb > p.eal.memory_mb:
        raise _Bad("mempool.mbufs", f"{p.mempool.mbufs} mbufs of {p.mempool.data_room} bytes need at "
                   f"least {need_mb} MB but eal.memory_mb is {p.eal.memory_mb}",
                   "raise eal.memory_mb or lower mempool.mbufs / mempool.data_room")
    largest = p.mempool.mtu + ETHER_OVERHEAD
    for i, t in enumerate(p.targets.pps):
        if t.frame_size > largest:
            raise _Bad(f"targets.pps[{i}].frame_size",
                       f"{t.frame_size}-byte frames exceed mempool.mtu {p.mempool.mtu} "
                       f"(largest frame {largest})",
                       f"raise mempool.mtu to at least {t.frame_size - ETHER_OVERHEAD} or drop this target")


def _build(data: Any, path: str) -> Profile:
    if not isinstance(data, Mapping):
        raise _Bad(None, f"expected a TOML document (a table), got {_desc(data)}", _PROFILE_FIX)
    for k, v in data.items():
        if k not in _TOP_KEYS and k not in _SECTIONS:
            if isinstance(v, Mapping):
                close = difflib.get_close_matches(str(k), _SECTIONS, n=1, cutoff=0.6)
                fix = f"did you mean [{close[0]}]? " if close else ""
                fix += "known sections: " + ", ".join(f"[{s}]" for s in _SECTIONS)
                raise _Bad(str(k), "unknown section", fix)
            raise _unknown_key(str(k), str(k), _TOP_KEYS + _SECTIONS, "known top-level keys")
    top = _Table({k: v for k, v in data.items() if k in _TOP_KEYS}, "", _TOP_KEYS, "top level")
    name = top.get_str("name", pathlib.Path(path).stem)
    if not name.strip():
        raise _Bad("name", "is empty", "give the profile a name, or leave name out to use the file name")
    sections = {
        s: _PARSERS[s](_Table(data.get(s), s, _SECTION_KEYS[s], f"[{s}]")) for s in _SECTIONS
    }
    profile = Profile(name=name, description=top.get_str("description", ""), path=path, **sections)
    _cross_check(profile)
    return profile


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


def parse_profile(data: str | Mapping, path: str = "<string>") -> Profile:
    """Validate a profile given as TOML text or as an already-parsed mapping."""
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
        return _build(data, path)
    except _Bad as b:
        raise ProfileError(path, b.key, b.problem, b.fix) from None


def load_profile(path: str | os.PathLike) -> Profile:
    """Read and validate the profile at ``path`` (messages show ``path`` as given)."""
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
        raise ProfileError(shown, None, f"not valid TOML: not UTF-8 text (byte {e.start})") from None
    return parse_profile(text, shown)


def default_profile_path() -> pathlib.Path:
    """``$DPDK_HARNESS_PROFILE`` if set, else ``profiles/vdev.toml`` next to the package."""
    env = os.environ.get("DPDK_HARNESS_PROFILE")
    if env:
        return pathlib.Path(env)
    p = pathlib.Path(__file__).resolve().parent.parent / "profiles" / "vdev.toml"
    if p.is_file():
        return p
    raise ProfileError(str(p), None, "no default profile found",
                       "pass --dpdk-profile with the path of a TOML profile, or set DPDK_HARNESS_PROFILE")


def check_host(profile: Profile, cpus: Iterable[int], key: str = "eal.lcores") -> None:
    """Raise a one-line :class:`UsageError` if an lcore maps to a CPU not in ``cpus``.

    ``cpus`` is what this process may use, e.g. the host's online CPUs. ``key`` names where the
    lcores came from in the message (``--lcores`` when the option overrode the profile).
    """
    allowed = sorted(set(cpus))
    ok = frozenset(allowed)
    lcores = profile.eal.lcores
    for m in lcores:
        missing = sorted(m.cpus - ok)
        if not missing:
            continue
        n_cpus = f"{len(allowed)} CPU{'s' if len(allowed) != 1 else ''}"
        have = (f"CPU{'s' if len(allowed) != 1 else ''} {_id_list(allowed)} ({n_cpus})"
                if allowed else "no CPUs")
        problem = f"lcore {m.lcore} is mapped to CPU {missing[0]} but this process may only use {have}"
        if not allowed:
            fix = "check the CPU affinity this process runs with (taskset, cgroups)"
        elif len(lcores) > len(allowed):
            k = max(2, len(allowed))
            hint = format_lcores([LcoreMap(i, frozenset({allowed[i % len(allowed)]})) for i in range(k)])
            fix = f"use fewer lcores, e.g. --lcores {hint}"
        else:
            hint = format_lcores([LcoreMap(i, frozenset({allowed[i]})) for i in range(len(lcores))])
            fix = f"map the lcores onto CPUs this process may use, e.g. --lcores {hint}"
        raise UsageError(f"{key}: {problem}; {fix}")


def mbufs_required(profile: Profile, n_ports: int, n_lcores: int) -> int:
    """Mbufs the rings, caches and in-flight bursts can hold at once.

    ``rx_desc*rx*n_ports + tx_desc*tx*n_ports + (burst+cache)*n_lcores + in_flight``
    """
    if n_ports < 0 or n_lcores < 0:
        raise ValueError("n_ports and n_lcores must be >= 0")
    q, mp = profile.queues, profile.mempool
    return (q.rx_desc * q.rx * n_ports + q.tx_desc * q.tx * n_ports
            + (q.burst + mp.cache) * n_lcores + q.in_flight)
