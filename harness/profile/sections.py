"""Every profile key, declared once: a dataclass field per key, with its type (the annotation), its
default, and its range and help (:func:`declare`). The reader (:func:`read_section`), the error
messages and profiles/README.md's key tables (harness/profile/doc.py) all come from these fields.

Adding a key: one field here (with ``declare(...)``), then ``python -m harness.profile.doc`` rewrites
the README table; use it where it is needed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import registry
from harness.profile.lcores import LcoreMap, default_lcores, lcores_arg
from harness.profile.readers import (
    DEFAULT_HASH_FUNCTIONS,
    DEFAULT_TX_THRESH,
    EAL_OWNED,
    RSS_HASH_FUNCTIONS,
    PpsTarget,
    read_extra_args,
    read_hash_functions,
    read_hugepage_size,
    read_latency,
    read_lcores_key,
    read_main_lcore,
    read_pci,
    read_pps,
    read_reta,
    read_rss_key,
    read_socket,
    read_tolerance,
    tx_thresh_problem,
)
from harness.profile.table import Bad, FrozenMap, Table

TOPOLOGIES = tuple(registry.TOPOLOGIES)  # harness/registry.py: the one list
LOOPBACKS = ("none", "cable", "internal")
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
SEARCHES = ("ci", "rfc2544")            # harness.perf.SEARCH_PROFILES
DUT_MODES = ("ports", "testpmd-memif")  # what the throughput suite measures through
LINK_GBPS = (1.0, 400.0)

#: a custom reader: (table, TOML key, the section read so far) -> value
Reader = Callable[[Table, str, "Section"], Any]


@dataclass(frozen=True)
class KeySpec:
    """What a profile key accepts and means, beyond its type and default (the field's)."""
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    example: Any = None             # shown in fixes when the key has no default
    read: Reader | None = None      # for keys a type and a range do not describe
    toml: str | None = None         # the TOML name, when the field is named otherwise
    doc_name: str | None = None     # README columns, when the generated text would not say it
    type_text: str | None = None
    default_text: str | None = None
    range_text: str | None = None


def declare(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None,
        **spec: Any) -> Any:
    """A dataclass field that is a profile key (see :class:`KeySpec` for ``spec``)."""
    meta = {"key": KeySpec(help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def keys_of(cls: type) -> list[tuple[dataclasses.Field, KeySpec]]:
    """The fields of a section that are profile keys, in declaration order."""
    return [(f, f.metadata["key"]) for f in dataclasses.fields(cls) if "key" in f.metadata]


def toml_name(f: dataclasses.Field, spec: KeySpec) -> str:
    return spec.toml or f.name


class Section:
    """One section being read: each key once, on demand (a key's reader may need another key first)."""

    def __init__(self, cls: type, t: Table):
        self.cls, self.t = cls, t
        self.fields = {f.name: (f, spec) for f, spec in keys_of(cls)}
        self.values: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self.values:
            f, spec = self.fields[name]
            self.values[name] = _read(self.t, f, spec, self)
        return self.values[name]

    def build(self) -> Any:
        return self.cls(**{name: self.get(name) for name in self.fields})


def _read(t: Table, f: dataclasses.Field, spec: KeySpec, sec: Section) -> Any:
    name = toml_name(f, spec)
    if spec.read is not None:
        return spec.read(t, name, sec)
    default = f.default
    kind = str(f.type)
    if kind == "int":
        return t.get_int(name, default, spec.lo, spec.hi)
    if kind == "bool":
        return t.get_bool(name, default)
    if kind == "str":
        return t.get_str(name, default, spec.choices)
    if kind == "float":
        return t.get_float(name, default, spec.lo, spec.hi, lo_open=spec.lo_open, hi_open=spec.hi_open)
    if kind == "float | None":
        if not t.has(name):
            return None
        return t.get_float(name, lo=spec.lo, hi=spec.hi, lo_open=spec.lo_open, hi_open=spec.hi_open,
                           example=spec.example)
    raise TypeError(f"{f.name}: a {kind} key needs a reader")


def read_section(cls: type, data: Any, prefix: str) -> Any:
    """Section ``cls`` from its TOML table: unknown keys, types and ranges checked, then its rules."""
    names = [toml_name(f, spec) for f, spec in keys_of(cls)]
    section = Section(cls, Table(data, prefix, names, f"[{prefix}]"))
    value = section.build()
    check = getattr(cls, "check", None)
    if check is not None:
        check(value)
    return value


# --------------------------------------------------------------------------- [eal]


@dataclass(frozen=True)
class EalConfig:
    lcores: tuple[LcoreMap, ...] = declare(
        help="Lcores and the CPUs they run on, in EAL `--lcores` syntax (below).", factory=default_lcores,
        read=read_lcores_key, type_text="string", default_text='`"0-1"`',
        range_text="at least 2 lcores; ids and CPUs 0..1023")
    main_lcore: int = declare(0, "The lcore the harness (Python) runs on; the others are workers that run the traffic "
                              "loops.", read=read_main_lcore, range_text="one of `lcores`")
    memory_mb: int = declare(256, "EAL `-m`: memory reserved at start-up, in MB. Must hold the mempool plus EAL's own "
                             "overhead (see `[mempool]`).", lo=16, hi=1048576)
    hugepages: bool = declare(True, "`false` starts EAL with `--no-huge` (ordinary memory; slower, no hugepages "
                              "needed).")
    hugepage_size_kb: int = declare(2048, "Page size to reserve and use.", toml="hugepage_size",
                                    read=read_hugepage_size,
                                    type_text="string", default_text='`"2M"`', range_text='`"2M"` or `"1G"`')
    log_level: str = declare("notice", "EAL `--log-level`.", choices=LOG_LEVELS)
    extra_args: tuple[str, ...] = declare(
        (), "Further EAL arguments, passed as given (e.g. `[\"--iova-mode=va\"]`). Options the profile owns are "
        "refused: `" + " ".join(a for a in EAL_OWNED if a not in ("--master-lcore", "--pci-whitelist")) + "`.",
        read=read_extra_args, type_text="array of strings")
    max_involuntary_ctx_switches_per_s: float = declare(
        1000.0, "Most involuntary context switches per second a busy worker lcore may see (`suites/affinity`); "
        "~10 suits isolated cores (isolcpus, nohz_full).", lo=0, hi=1e9, lo_open=True, range_text="> 0")

    def lcores_arg(self) -> str:
        """The EAL ``--lcores`` value, explicit form: ``"0@0,1@1"``, ``"1@(0,1)"``."""
        return lcores_arg(self.lcores)

    def lcore_ids(self) -> tuple[int, ...]:
        return tuple(m.lcore for m in self.lcores)

    def worker_lcores(self) -> tuple[int, ...]:
        return tuple(m.lcore for m in self.lcores if m.lcore != self.main_lcore)

    def cpus(self) -> frozenset[int]:
        out: set[int] = set()
        for m in self.lcores:
            out |= m.cpus
        return frozenset(out)


# --------------------------------------------------------------------------- [ports]


@dataclass(frozen=True)
class PortsConfig:
    topology: str = declare(registry.DEFAULT_TOPOLOGY, "The virtual topology used in vdev mode (when `pci` is empty).",
                            choices=TOPOLOGIES)
    pci: tuple[str, ...] = declare((), "NIC ports under test. Not empty = NIC mode. `03:00.0` is read as "
                                   "`0000:03:00.0`. `--nic` replaces the list, so a NIC profile may leave it "
                                   "empty and name the ports on the command line.", read=read_pci,
                                   type_text="array of strings", range_text="PCI addresses, each once")
    loopback: str = declare("none", "How traffic gets back: `cable` joins ports (or loops one back with a plug); "
                            "`internal` uses the PMD's loopback mode. Needs NIC ports (`pci` or `--nic`) when "
                            "not `none`.", choices=LOOPBACKS)
    lpbk_mode: int = declare(0, "`rte_eth_conf.lpbk_mode`. Must be > 0 when `loopback = \"internal\"` and 0 otherwise. "
                             "The values are PMD-specific (1 is Tx→Rx on most).", lo=0, hi=255)
    promiscuous: bool = declare(True, "Put every port in promiscuous mode.")
    link_timeout_s: float = declare(5.0, "How long to wait for link up after a port starts.",
                                    lo=0, hi=600, lo_open=True)

    @property
    def nic_mode(self) -> bool:
        """True when the profile tests physical NIC ports (``pci`` is not empty)."""
        return bool(self.pci)

    def check(self) -> None:
        """The section's own rules. Whether a loopback has NIC ports is judged on the profile as it
        will run (``--nic`` fills ``pci``): :meth:`check_as_run`."""
        if self.loopback == "internal" and self.lpbk_mode == 0:
            raise Bad("ports.lpbk_mode", 'must be > 0 when ports.loopback = "internal"',
                      "set lpbk_mode to the PMD's internal loopback mode (often 1; see the NIC guide)")
        if self.loopback != "internal" and self.lpbk_mode != 0:
            raise Bad("ports.lpbk_mode", f'{self.lpbk_mode} is only used with ports.loopback = "internal" '
                      f'(loopback is {self.loopback!r})', 'set lpbk_mode = 0 or loopback = "internal"')

    def check_as_run(self) -> None:
        """Rules on the ports the run will use, once ``--nic`` / ``--vdev`` are applied."""
        if self.loopback != "none" and not self.nic_mode:
            raise Bad("ports.loopback", f"{self.loopback!r} needs NIC ports but neither --nic nor ports.pci "
                      "gives any", "pass --nic PCI for each port (e.g. --nic 0000:03:00.0 --nic 0000:03:00.1), "
                      'or list them in ports.pci, or set loopback = "none"')
        self.check()


# --------------------------------------------------------------------------- [queues]


@dataclass(frozen=True)
class QueuesConfig:
    rx: int = declare(1, "Rx queues per port.", lo=1, hi=1024)
    tx: int = declare(1, "Tx queues per port. net_tap (`ports.topology = \"tap\"`) needs as many tx as rx queues: "
                      "other counts are refused at load.", lo=1, hi=1024)
    rx_desc: int = declare(1024, "Descriptors per rx queue. At bring-up it is checked against the device's limits "
                           "(min, max, multiple of its alignment); a count outside them fails the ports check as a "
                           "profile problem, naming the count to set. The same holds for `tx_desc`.", lo=1, hi=65535)
    tx_desc: int = declare(1024, "Descriptors per tx queue.", lo=1, hi=65535)
    burst: int = declare(32, "Packets per rx/tx burst in the worker loops.", lo=1, hi=512)
    tx_free_thresh: int = declare(0, "Tx free threshold; `0` = the PMD's default (32).", lo=0, hi=65535,
                                  range_text="0..65535; see below")
    tx_rs_thresh: int = declare(0, "Tx RS bit threshold; `0` = the PMD's default (32).", lo=0, hi=65535,
                                range_text="0..65535; see below")
    in_flight: int = declare(0, "Extra mbufs the application holds outside the rings (counted by `mbufs_required`).",
                             lo=0)

    def check(self) -> None:
        problem = tx_thresh_problem(self.tx_desc, self.tx_rs_thresh, self.tx_free_thresh)
        if problem:
            name, text = problem
            raise Bad(f"queues.{name}", text, "fix the thresholds (0 = the PMD's default of "
                      f"{DEFAULT_TX_THRESH}) or queues.tx_desc")


# --------------------------------------------------------------------------- [mempool]


@dataclass(frozen=True)
class MempoolConfig:
    mbufs: int = declare(8191, "Mbufs in the pool; `2^n - 1` sizes use memory best.", lo=1)
    cache: int = declare(256, "Per-lcore cache. DPDK rejects more than 512 or 1.5 × cache > mbufs; `suites/mempool` "
                         "fails the cache check naming the rule.", lo=0, hi=65535)  # DPDK's limits: suites/mempool
    data_room: int = declare(2176, "Bytes per mbuf buffer, 128 bytes of headroom included.", lo=128, hi=65535)
    socket: int = declare(-1, "NUMA socket to allocate on; `-1` = the ports' own socket.", read=read_socket,
                          range_text="-1 or 0..63")
    mtu: int = declare(1500, "Port MTU. The largest frame is `mtu + 18`; without `scatter` it must fit in "
                       "`data_room - 128` (judged by `suites/mempool`).", lo=68, hi=16000)
    scatter: bool = declare(False, "Let frames span several chained mbufs.")


# --------------------------------------------------------------------------- [rss]


@dataclass(frozen=True)
class RssConfig:
    enabled: bool = declare(True, "Configure RSS on ports with more than one rx queue.")
    hash_functions: tuple[str, ...] = declare(
        DEFAULT_HASH_FUNCTIONS, "Packet fields RSS hashes on.", read=read_hash_functions,
        type_text="array of strings",
        range_text=f"each once, from `{' '.join(RSS_HASH_FUNCTIONS)}`; not empty when enabled")
    key: bytes | None = declare(None, "Toeplitz key; `:` or spaces between bytes allowed (`\"6d:5a:56:…\"`). An "
                                "all-zero key is warned about at load (every flow hashes to 0: one queue), and the "
                                "spread check fails naming it.",
                                read=read_rss_key, type_text="hex string", default_text="the PMD's key",
                                range_text="40 or 52 bytes")
    reta: tuple[int, ...] = declare((), "Redirection table: the rx queue for each entry, in order; repeated over the "
                                    "device's RETA size and programmed after start.", read=read_reta,
                                    type_text="array of integers", default_text="`[]` (PMD default)",
                                    range_text="each 0..`queues.rx`-1")
    symmetric: bool = declare(False, "Expect both directions of a flow on the same queue.")
    flows: int = declare(1024, "Distinct flows the spread check sends.", lo=1, hi=1_000_000)
    min_p_value: float = declare(0.01, "Spread check: the chi-square goodness-of-fit p-value must be at least this.",
                                 lo=0, hi=1, lo_open=True, hi_open=True)
    max_ratio: float = declare(1.5, "Spread check: busiest / quietest queue packet count must be at most this.", lo=1)


# --------------------------------------------------------------------------- [targets]


@dataclass(frozen=True)
class Targets:
    tolerance: float = declare(0.05, "A measured rate may fall this fraction below its target and still pass. 1 or "
                               "more, or a tolerance that leaves a target of 1000 pps or more below 1000 pps, is "
                               "refused: the verdict would pass anything.", read=read_tolerance, type_text="number",
                               range_text="0 ≤ x < 1")
    loss: float = declare(0.0, "Loss ratio allowed when searching for the throughput (0 = zero-loss, RFC 2544).",
                          lo=0, hi=1)
    pps: tuple[PpsTarget, ...] = declare((), "Packet-rate targets, one table per frame size (below).", read=read_pps,
                                         doc_name="[[targets.pps]]",
                                         type_text="array of tables", default_text="none",
                                         range_text="frame sizes each once")
    latency_us: Mapping[str, float] = declare(FrozenMap(), "Latency limits in microseconds (below).",
                                              read=read_latency, doc_name="[targets.latency_us]", type_text="table",
                                              default_text="none")
    link_gbps: float | None = declare(None, "Link speed in Gbit/s that `line_rate` targets are a share of; with NIC "
                                      "ports it also caps the throughput search at the line rate.",
                                      lo=LINK_GBPS[0], hi=LINK_GBPS[1], example=10, default_text="none")

    def pps_for(self, frame_size: int) -> PpsTarget | None:
        for t in self.pps:
            if t.frame_size == frame_size:
                return t
        return None


# --------------------------------------------------------------------------- [measure]

@dataclass(frozen=True)
class MeasureConfig:
    duration_s: float = declare(1.0, "Length of one measurement, in seconds.", lo=0.05, hi=3600)
    repeats: int = declare(3, "Measurements per check; min, median and max are reported.", lo=1, hi=100)
    warmup_s: float = declare(0.2, "Traffic sent before counting starts; the throughput search measures the "
                              "generator's "
                              "unpaced ceiling over at least this long.", lo=0, hi=60)
    search: str = declare("ci", "Throughput search profile: `ci` runs 0.1 s trials to a 1 % width; `rfc2544` runs 60 s "
                          "trials, waits 2 s for frames in flight, to a 0.5 % width. The NDR check runs `repeats` "
                          "searches and judges the median.", choices=SEARCHES)
    trial_s: float | None = declare(None, "Length of each search trial, overriding the search profile's.",
                                    lo=0.01, hi=3600, example=0.1, default_text="the search's")
    latency_load: float = declare(0.9, "Latency is measured for `duration_s` at this fraction of the NDR.",
                                  lo=0, hi=1, lo_open=True)
    pdr_loss: float = declare(0.005, "Loss ratio of the partial drop rate (PDR) reported next to the NDR; 0 skips the "
                              "PDR search. When `targets.loss` > 0, that ratio is searched and judged instead.",
                              lo=0, hi=1, hi_open=True)
    dut: str = declare("ports", "What the throughput checks measure through: the profile's ports (a wire between two, "
                       "or one in internal loopback), or `dpdk-testpmd` forwarding over a memif interface (an "
                       "external DPDK "
                       "application as the DUT).", choices=DUT_MODES)


# --------------------------------------------------------------------------- [audit]

@dataclass(frozen=True)
class AuditConfig:
    """``[audit]``: thresholds for judging a running application (``pytest suites/audit --audit PID``)."""
    window_s: float = declare(5.0, "Observation window: counters and `/proc` are read at both ends; an audit run "
                              "takes this plus a few seconds.", lo=0.2, hi=3600)
    max_rx_nombuf_per_s: float = declare(0.0, "rx mbuf allocation failures per second a port may show (the pool "
                                         "ran dry).", lo=0, hi=1e12, range_text=">= 0")
    max_imissed_per_s: float = declare(0.0, "Packets per second the device may drop for want of rx descriptors.",
                                       lo=0, hi=1e12, range_text=">= 0")
    max_ierrors_per_s: float = declare(0.0, "Erroneous received packets per second.", lo=0, hi=1e12,
                                       range_text=">= 0")
    max_oerrors_per_s: float = declare(0.0, "Failed transmissions per second.", lo=0, hi=1e12,
                                       range_text=">= 0")
    max_involuntary_ctx_switches_per_s: float = declare(1000.0, "Preemptions per second a worker lcore thread may "
                                                        "take (isolated cores see 0-1/s).", lo=0, hi=1e9,
                                                        lo_open=True, range_text="> 0")
    max_neighbour_cpu_share: float = declare(0.1, "Share of a data-plane CPU (a worker lcore's) any thread of "
                                             "another process may use in the window.", lo=0, hi=1, lo_open=True)
    flows: int = declare(1024, "Flows the audited traffic carries: the chi-square of the rx spread is computed "
                         "per flow.", lo=1, hi=1 << 32, range_text=">= 1")
    min_p_value: float = declare(0.01, "Rx spread: lowest acceptable chi-square p-value.", lo=0, hi=1, hi_open=True)
    max_ratio: float = declare(1.5, "Rx spread: highest acceptable max/min per-queue ratio.", lo=1, hi=1e9,
                               range_text=">= 1")
    min_rx_packets: int = declare(1000, "Packets a multi-queue port must receive in the window for its spread to be "
                                  "judged (else skipped).", lo=1, hi=1 << 62, range_text=">= 1")
    max_cache_share: float = declare(0.5, "Share of a pool the lcores' caches (lcores x 1.5 x cache) may hold at "
                                     "once.", lo=0, hi=1, lo_open=True)
    require_hugepages: bool = declare(True, "The application's memory must be in hugepages (`--no-huge` fails).")


#: the sections of a profile, in the order they are read and documented
SECTIONS: dict[str, type] = {
    "eal": EalConfig, "ports": PortsConfig, "queues": QueuesConfig, "mempool": MempoolConfig,
    "rss": RssConfig, "targets": Targets, "measure": MeasureConfig, "audit": AuditConfig,
}
