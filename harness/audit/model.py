"""Audit of a running DPDK application: what was observed, and the verdicts (pure, no probe).

Everything here is a plain function of numbers read from the application's telemetry socket and
``/proc`` (harness/audit/run.py reads them), so tests/unit shows each verdict failing on made-up
observations. A verdict is a list of one-line problems (empty = pass); each names the lcore,
port or pool, the expected and measured figures, and what to change in the application's
launch line (EAL options such as ``--lcores``; for dpdk-testpmd also its own options).

The spread statistics (chi-square p and max/min ratio, judged per flow) are the RSS suite's
(:func:`harness.rss.model.spread`); the mempool limits are DPDK's (:mod:`harness.mempool.model`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.mempool.model import CACHE_FLUSH_FACTOR, RTE_MEMPOOL_CACHE_MAX_SIZE
from harness.rss.model import MIN_FLOWS_PER_QUEUE, Spread, spread
from harness.system.procfs import cpus_text, format_cpus, option_value, parse_cpu_list

#: rate counters of /ethdev/stats the audit judges, with the [audit] key holding each limit
RATE_COUNTERS = {
    "rx_nombuf": "max_rx_nombuf_per_s",
    "imissed": "max_imissed_per_s",
    "ierrors": "max_ierrors_per_s",
    "oerrors": "max_oerrors_per_s",
}
TESTPMD_NAMES = ("dpdk-testpmd", "testpmd")


# ---------------------------------------------------------------- the application and its launch line


@dataclass(frozen=True)
class EalParams:
    """What the application's EAL was started with (``/eal/params``)."""

    args: tuple[str, ...]
    lcores: Mapping[int, frozenset[int]]   # lcore -> CPUs, as the launch line maps them ({} if unknown)
    main_lcore: int | None
    file_prefix: str
    in_memory: bool = False
    no_huge: bool = False
    no_shconf: bool = False
    memory: str | None = None              # -m / --socket-mem as given

    def lcores_text(self) -> str:
        return ",".join(f"{lc}@{format_cpus(c)}" if len(c) == 1 else f"{lc}@({format_cpus(c)})"
                        for lc, c in sorted(self.lcores.items())) or "not given (EAL default: every CPU)"


def parse_lcores_arg(text: str) -> dict[int, frozenset[int]]:
    """EAL ``--lcores`` syntax -> {lcore: CPUs}; ValueError when it cannot be read."""
    from harness.errors import HarnessError
    from harness.profile import parse_lcores

    try:
        return {m.lcore: m.cpus for m in parse_lcores(text)}
    except HarnessError as exc:
        raise ValueError(str(exc)) from None


def parse_eal_params(args: Sequence[str]) -> EalParams:
    """``/eal/params`` (argv[0] first, as EAL got them) -> :class:`EalParams`."""
    args = tuple(args)
    rest = args[1:]
    lcores: dict[int, frozenset[int]] = {}
    try:
        if (v := option_value(rest, "--lcores")) is not None:
            lcores = parse_lcores_arg(v)
        elif (v := option_value(rest, "-l")) is not None:
            lcores = {c: frozenset({c}) for c in parse_cpu_list(v)}
        elif (v := option_value(rest, "-c")) is not None:
            mask = int(v, 16)
            lcores = {c: frozenset({c}) for c in range(mask.bit_length()) if mask >> c & 1}
    except ValueError:
        lcores = {}
    main = option_value(rest, "--main-lcore", "--master-lcore")
    main_lcore = int(main) if main and main.isdigit() else (min(lcores) if lcores else None)
    return EalParams(args=args, lcores=lcores, main_lcore=main_lcore,
                     file_prefix=option_value(rest, "--file-prefix") or "rte",
                     in_memory="--in-memory" in rest, no_huge="--no-huge" in rest,
                     no_shconf="--no-shconf" in rest or "--in-memory" in rest,
                     memory=option_value(rest, "-m", "--socket-mem"))


@dataclass(frozen=True)
class App:
    """The audited application, as the reports name it."""

    pid: int
    name: str
    cmdline: str
    dpdk_version: str
    socket: str
    eal: EalParams
    app_args: tuple[str, ...] = ()

    @property
    def is_testpmd(self) -> bool:
        argv0 = self.eal.args[0].rsplit("/", 1)[-1] if self.eal.args else ""
        return self.name in TESTPMD_NAMES or argv0 in TESTPMD_NAMES

    def label(self) -> str:
        return f"{self.name} (pid {self.pid})"


# ---------------------------------------------------------------- threads and CPUs


@dataclass(frozen=True)
class LcoreThread:
    """An lcore's thread of the application, observed over the window."""

    lcore: int
    tid: int
    name: str
    role: str                  # "main" | "worker"
    cpus: frozenset[int]       # Cpus_allowed_list at the end of the window
    nonvoluntary: int          # involuntary context switches during the window
    voluntary: int
    cpu_s: float               # CPU time (utime + stime) during the window
    seconds: float             # the window

    @property
    def label(self) -> str:
        return f"lcore {self.lcore} ({self.role}, thread {self.name!r}, tid {self.tid})"

    @property
    def nonvoluntary_per_s(self) -> float:
        return self.nonvoluntary / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.seconds if self.seconds > 0 else 0.0


def data_plane_cpus(threads: Iterable[LcoreThread]) -> frozenset[int]:
    """CPUs the worker lcores may run on: where the application polls its queues."""
    out: set[int] = set()
    for t in threads:
        if t.role == "worker":
            out |= t.cpus
    return frozenset(out)


def suggest_lcores(lcores: Sequence[int], cpus: Iterable[int]) -> str:
    """A ``--lcores`` value giving each lcore a CPU of its own (or as many as the host has)."""
    cpus_l, lcores = sorted(set(cpus)), sorted(set(lcores))
    pairs = ",".join(f"{lc}@{c}" for lc, c in zip(lcores, cpus_l))
    if len(cpus_l) >= len(lcores):
        return f"--lcores {pairs}"
    return f"--lcores {pairs} (this host has {len(cpus_l)} CPUs for {len(lcores)} lcores: run fewer lcores)"


def _lcores_fix(app: App, threads: Sequence[LcoreThread], host_cpus: Iterable[int]) -> str:
    now = app.eal.lcores_text()
    return (f"give each lcore one CPU of its own in the launch line: now --lcores {now}, e.g. "
            f"{suggest_lcores([t.lcore for t in threads], host_cpus)}")


def pinning_problems(app: App, threads: Sequence[LcoreThread], host_cpus: Iterable[int]) -> list[str]:
    """Every lcore thread may run on exactly one CPU, the one the launch line maps it to."""
    problems = []
    fix = _lcores_fix(app, threads, host_cpus)
    for t in sorted(threads, key=lambda t: t.lcore):
        if len(t.cpus) != 1:
            problems.append(f"{app.label()}: {t.label} may run on {cpus_text(t.cpus)} ({len(t.cpus)} CPUs), "
                            f"expected exactly one CPU; {fix}")
            continue
        want = app.eal.lcores.get(t.lcore)
        if want is not None and want != t.cpus:
            problems.append(f"{app.label()}: {t.label} is pinned to {cpus_text(t.cpus)} but the launch line "
                            f"maps it to {cpus_text(want)}: something re-pinned it after start (taskset, "
                            "cgroup cpuset); pin it in --lcores only")
    if not threads:
        problems.append(f"{app.label()}: no lcore thread found (expected the main thread and "
                        "rte-worker-N threads); is this a DPDK primary process?")
    return problems


def sharing_problems(app: App, threads: Sequence[LcoreThread], host_cpus: Iterable[int]) -> list[str]:
    """No two lcore threads may be allowed on one CPU."""
    problems = []
    ts = sorted(threads, key=lambda t: t.lcore)
    fix = _lcores_fix(app, threads, host_cpus)
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            shared = a.cpus & b.cpus
            if shared:
                both = "forwarding " if a.role == b.role == "worker" else ""
                problems.append(f"{app.label()}: {both}{a.label} and {b.label} share {cpus_text(shared)}: they take "
                                f"turns on it and each loses half its polling time; {fix}")
    return problems


def ctx_switch_problems(app: App, threads: Sequence[LcoreThread], max_per_s: float) -> list[str]:
    problems = []
    for t in sorted(threads, key=lambda t: t.lcore):
        if t.role == "worker" and t.nonvoluntary_per_s > max_per_s:
            problems.append(
                f"{app.label()}: {t.label} on {cpus_text(t.cpus)} was preempted {t.nonvoluntary} times in "
                f"{t.seconds:.2f} s ({t.nonvoluntary_per_s:,.0f}/s), expected at most {max_per_s:,.0f}/s "
                f"(audit.max_involuntary_ctx_switches_per_s); something else runs on that CPU: move it away "
                "(taskset/cgroup cpusets, irqaffinity) or give the lcore an isolated CPU (isolcpus, nohz_full) "
                "in --lcores")
    return problems


@dataclass(frozen=True)
class Neighbour:
    """A thread outside the application that ran on a data-plane CPU during the window."""

    pid: int
    tid: int
    name: str
    process: str               # the process's command line (or [kernel thread name])
    cpu_share: float           # share of one CPU it used on data-plane CPUs during the window
    cpus: frozenset[int]       # the data-plane CPUs it was seen on
    kernel: bool = False

    def text(self) -> str:
        kind = "kernel thread" if self.kernel else f"pid {self.pid}"
        return (f"{self.name!r} (tid {self.tid}, {kind}: {self.process[:80]}) used {self.cpu_share:.0%} of "
                f"{cpus_text(self.cpus)}")


def neighbour_problems(app: App, neighbours: Sequence[Neighbour], dp_cpus: frozenset[int],
                       max_share: float) -> list[str]:
    busy = [n for n in neighbours if n.cpu_share > max_share]
    if not busy:
        return []
    listed = "; ".join(n.text() for n in sorted(busy, key=lambda n: -n.cpu_share))
    return [f"{app.label()}: data-plane {cpus_text(dp_cpus)} (its worker lcores') shared with busy threads of "
            f"other processes, each expected below {max_share:.0%} of a CPU (audit.max_neighbour_cpu_share): "
            f"{listed}; move them off (taskset -p, cgroup cpusets) or keep the data-plane CPUs for the application "
            "(isolcpus=, systemd CPUAffinity=)"]


# ---------------------------------------------------------------- ports: rates and spread


@dataclass(frozen=True)
class PortWindow:
    """One ethdev port over the window: counter deltas from ``/ethdev/stats``, facts from ``/ethdev/info``."""

    port: int
    name: str
    seconds: float
    deltas: Mapping[str, int]                  # ipackets, opackets, imissed, ierrors, oerrors, rx_nombuf
    q_ipackets: tuple[int, ...] = ()           # per rx queue (the first nb_rx_queues counters)
    nb_rx_queues: int = 1
    numa_node: int = -1
    xstats: Mapping[str, int] = field(default_factory=dict)   # deltas of error-like xstats that rose

    def rate(self, counter: str) -> float:
        return self.deltas.get(counter, 0) / self.seconds if self.seconds > 0 else 0.0


def _pool_fix(app: App) -> str:
    if app.is_testpmd:
        return "give it a bigger mbuf pool (testpmd: raise --total-num-mbufs, or lower --rxd/--rxq/--mbcache)"
    return "give it a bigger mbuf pool (rte_pktmbuf_pool_create n) or fewer rx descriptors"


def _fixes(app: App) -> dict[str, str]:
    return {
        "rx_nombuf": f"the pool runs dry: {_pool_fix(app)}",
        "imissed": "the device dropped packets for want of rx descriptors: poll faster (more lcores/queues) or "
                   + ("raise --rxd" if app.is_testpmd else "give the rx queues more descriptors"),
        "ierrors": "the device received bad frames: check the link and the peer (xstats say which kind)",
        "oerrors": "the device failed to send: check the link, the tx offloads and the tx descriptors"
                   + (" (--txd)" if app.is_testpmd else ""),
    }


def rate_problems(app: App, ports: Sequence[PortWindow], limits: Mapping[str, float]) -> list[str]:
    """Per port and counter: the rate over the window within the profile's limit."""
    problems = []
    fixes = _fixes(app)
    for p in ports:
        for counter, key in RATE_COUNTERS.items():
            limit = limits[key]
            rate = p.rate(counter)
            if rate > limit:
                extra = [f"{k} +{v}" for k, v in sorted(p.xstats.items()) if v]
                problems.append(
                    f"{app.label()}: port {p.port} ({p.name}): {counter} rose by {p.deltas.get(counter, 0)} in "
                    f"{p.seconds:.2f} s ({rate:,.1f}/s), expected at most {limit:g}/s (audit.{key}); "
                    f"{fixes[counter]}" + (f" [xstats: {', '.join(extra[:6])}]" if extra else ""))
    return problems


def spread_of(p: PortWindow, flows: int) -> Spread:
    return spread(list(p.q_ipackets[: p.nb_rx_queues]), flows)


def few_flows_note(flows: int, queues: int) -> str | None:
    if queues <= 1 or flows / queues >= MIN_FLOWS_PER_QUEUE:
        return None
    return (f"audit.flows = {flows} over {queues} rx queues is fewer than the {MIN_FLOWS_PER_QUEUE} flows per queue "
            f"a chi-square verdict needs: the p-value is not meaningful (set audit.flows to the flows your "
            f"traffic carries, at least {MIN_FLOWS_PER_QUEUE * queues})")


def spread_problems(app: App, p: PortWindow, sp: Spread, *, min_p_value: float, max_ratio: float) -> list[str]:
    """The rx queues of a multi-queue port share its traffic evenly (per flow, as suites/rss judges)."""
    bad_p, bad_ratio = sp.p_value < min_p_value, not sp.max_min_ratio <= max_ratio
    if sp.queues <= 1 or not (bad_p or bad_ratio):
        return []
    busy = [q for q, c in enumerate(sp.counts) if c]
    if len(busy) == 1:
        cause = (f"all of it on queue {busy[0]} of {sp.queues}: the other queues' lcores poll nothing. Either RSS "
                 "is off or hashes on fields the traffic does not vary, or the traffic is one flow; "
                 + ("enable RSS on the fields that vary (testpmd: --rss-ip / --rss-udp, `port config all rss "
                    "all`), or run --rxq=1" if app.is_testpmd else
                    "enable RSS (rte_eth_conf rxmode.mq_mode = RTE_ETH_MQ_RX_RSS with rss_hf covering the "
                    "traffic) or configure one rx queue"))
    else:
        empty = sp.empty_queues
        cause = ((f"queues {', '.join(map(str, empty))} receive nothing; " if empty else "")
                 + "check the RSS hash fields and RETA (testpmd: `show port 0 rss-hash`, `port config 0 rss reta`)"
                 if app.is_testpmd else
                 (f"queues {', '.join(map(str, empty))} receive nothing; " if empty else "")
                 + "check the RSS hash functions, key and RETA the application programs")
    note = few_flows_note(sp.flows, sp.queues)
    return [f"{app.label()}: port {p.port} ({p.name}): rx per queue {list(sp.counts)} over {p.seconds:.2f} s: "
            f"chi-square p = {sp.p_value:.3g} (expected >= audit.min_p_value {min_p_value:g}, "
            f"{sp.flows} flows assumed), max/min {sp.max_min_ratio:.3g} (expected <= audit.max_ratio "
            f"{max_ratio:g}); {cause}" + (f". Note: {note}" if note else "")]


# ---------------------------------------------------------------- mempools


@dataclass(frozen=True)
class PoolInfo:
    """``/mempool/info,<name>``."""

    name: str
    size: int
    cache_size: int
    elt_size: int = 0
    socket_id: int = -1
    populated: int = 0
    in_use: int | None = None     # DPDK 23.03+ telemetry only


def pool_problems(app: App, pools: Sequence[PoolInfo], n_lcores: int, max_cache_share: float) -> list[str]:
    """DPDK's cache limits, and the share of each pool the lcores' caches can strand."""
    problems = []
    for p in pools:
        if p.cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE:
            problems.append(f"{app.label()}: pool {p.name}: cache {p.cache_size} exceeds RTE_MEMPOOL_CACHE_MAX_SIZE "
                            f"({RTE_MEMPOOL_CACHE_MAX_SIZE})" + ("; lower --mbcache" if app.is_testpmd else ""))
            continue
        if p.cache_size * CACHE_FLUSH_FACTOR > p.size:
            problems.append(f"{app.label()}: pool {p.name}: 1.5 x cache {p.cache_size} exceeds its {p.size} mbufs "
                            "(DPDK's rule)")
            continue
        stranded = int(n_lcores * CACHE_FLUSH_FACTOR * p.cache_size)
        if stranded > max_cache_share * p.size:
            problems.append(
                f"{app.label()}: pool {p.name}: its {n_lcores} lcores' caches can hold {stranded} of its {p.size} "
                f"mbufs ({n_lcores} x 1.5 x cache {p.cache_size}, {stranded / p.size:.0%}), expected at most "
                f"{max_cache_share:.0%} (audit.max_cache_share): mbufs parked in one lcore's cache starve the "
                "others' rx rings; "
                + ("lower --mbcache or raise --total-num-mbufs" if app.is_testpmd else
                   "lower the pool's cache_size or make the pool bigger"))
    return problems


# ---------------------------------------------------------------- NUMA and EAL


def numa_problems(app: App, ports: Sequence[PortWindow], threads: Sequence[LcoreThread],
                  cpu_node: Mapping[int, int]) -> list[str]:
    """Each port's NUMA node is the node of the CPUs of the worker lcores (which poll it: DPDK 22.11
    telemetry does not say which lcore polls which queue, so every worker is held to it)."""
    problems = []
    for p in ports:
        if p.numa_node < 0:
            continue
        far = [t for t in threads if t.role == "worker" and any(cpu_node.get(c, p.numa_node) != p.numa_node
                                                               for c in t.cpus)]
        for t in far:
            nodes = sorted({cpu_node.get(c, -1) for c in t.cpus})
            local = sorted(c for c, n in cpu_node.items() if n == p.numa_node)
            problems.append(f"{app.label()}: port {p.port} ({p.name}) is on NUMA node {p.numa_node} but {t.label} "
                            f"polls from {cpus_text(t.cpus)} on node(s) {nodes}: every packet crosses the "
                            f"interconnect; pin the lcore to a CPU of node {p.numa_node} in --lcores "
                            f"({cpus_text(local)})")
    return problems


def eal_problems(app: App, hugepage_kb: Mapping[int, int], require_hugepages: bool) -> list[str]:
    problems = []
    if require_hugepages and (app.eal.no_huge or not sum(hugepage_kb.values())):
        how = "runs with --no-huge" if app.eal.no_huge else "maps no hugepage memory"
        problems.append(f"{app.label()}: {how}: its mbufs live in 4 kB pages (IOTLB misses, no physical "
                        "contiguity for DMA); reserve hugepages and drop --no-huge from the launch line "
                        "(or set audit.require_hugepages = false for a test instance)")
    return problems

