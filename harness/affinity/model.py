"""Core pinning, isolation and NUMA placement: verdicts.

Pure functions from what was observed to a list of one-line problems (empty = pass), each naming the
lcore, its thread, the CPUs expected and measured, and what to change. Importable without the
compiled probe.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.native.defines import define
from harness.profile import LcoreMap
from harness.system.procfs import TaskInfo, cpus_text, format_cpus, parse_cpu_list

#: involuntary context switches per second a busy worker may take. Measured on the 2-CPU CI VM
#: (kernel 6.18, no isolation), worker busy for 0.5 s: alone on its CPU 0-50/s on a quiet host and up
#: to ~220/s while other test runs compete for the CPUs; two busy lcores pinned to one CPU ~125/s each;
#: a worker sharing the main lcore's CPU 100-170/s; a thread on the worker's CPU that wakes every
#: 0.1 ms ~6000/s. Sharing between lcores is caught for certain by the pinning check, so the default
#: only catches heavy interference (wakeup storms: timers, threaded IRQs, ksoftirqd) and stays quiet
#: on busy CI hosts; a production profile on isolated cores should set a tight limit (0-1/s is
#: typical there) with ``eal.max_involuntary_ctx_switches_per_s`` (whose default is this reasoning's 1000/s).
PROFILE_KEY_CTX_SWITCHES = "max_involuntary_ctx_switches_per_s"

CPU_WORDS = define("PROBE_AFF_CPU_WORDS")  # CPU n is bit n % 64 of word n / 64
ROLES = {0: "rte", 1: "off", 2: "service", 3: "non-eal"}


# ---------------------------------------------------------------- lcore threads


@dataclass(frozen=True)
class LcoreThread:
    """An EAL lcore's thread: read from inside (the probe) and from outside (the kernel)."""

    lcore: int
    is_main: bool
    role: str
    tid: int
    name: str
    seen_lcore: int                      # rte_lcore_id() inside the thread
    cpu_now: int                         # sched_getcpu() inside
    cpus: frozenset[int]                 # pthread_getaffinity_np() inside
    eal_cpus: frozenset[int]             # rte_lcore_cpuset(): EAL's lcore config
    eal_thread_cpus: frozenset[int]      # rte_thread_get_affinity(): EAL's record for the thread
    outside_cpus: frozenset[int] | None  # os.sched_getaffinity(tid)
    status_cpus: frozenset[int] | None   # /proc/self/task/<tid>/status Cpus_allowed_list
    socket: int = -1                     # rte_socket_id() inside
    lcore_socket: int = -1               # rte_lcore_to_socket_id()
    cpus_seen: frozenset[int] = frozenset()
    samples: int = 0
    migrations: int = 0

    @property
    def label(self) -> str:
        kind = "main lcore" if self.is_main else ("service lcore" if self.role == "service" else "lcore")
        return f"{kind} {self.lcore} (thread {self.name or '?'!r}, tid {self.tid})"

    def views(self) -> dict[str, frozenset[int] | None]:
        """Every reading of where the thread may run, by who read it."""
        return {
            "pthread_getaffinity_np in the thread": self.cpus,
            "sched_getaffinity(tid) from outside": self.outside_cpus,
            f"/proc/self/task/{self.tid}/status": self.status_cpus,
            "rte_thread_get_affinity": self.eal_thread_cpus,
            "rte_lcore_cpuset": self.eal_cpus,
        }


# ---------------------------------------------------------------- observation under load


@dataclass
class WorkerLoad:
    """One worker over a loaded window: where it ran and how often it was preempted."""

    lcore: int
    tid: int
    label: str
    expected_cpus: frozenset[int]
    load: str                               # "traffic" or "spin"
    seconds: float
    nonvoluntary: int                       # involuntary context switches over the window
    voluntary: int
    cpus_seen_inside: frozenset[int]        # sched_getcpu() in its loop
    cpus_seen_outside: frozenset[int]       # /proc/self/task/<tid>/stat last CPU, sampled
    outside_samples: int
    cpu_seconds: float = 0.0                # utime + stime over the window

    @property
    def nonvoluntary_per_s(self) -> float:
        return self.nonvoluntary / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """Share of the window the busy worker actually ran (1.0 alone; ~0.5 sharing a CPU with another).
        utime + stime count clock ticks (10 ms), so the share is capped at 1.0."""
        return min(1.0, self.cpu_seconds / self.seconds) if self.seconds > 0 else 0.0


@dataclass
class LoadSample:
    seconds: float
    workers: list[WorkerLoad]
    run_stats: object | None = None         # probe.RunStats of the traffic worker
    traffic_lcore: int | None = None
    others: list[TaskInfo] = field(default_factory=list)   # other threads of the process, at the end


# ---------------------------------------------------------------- verdicts


def _one_per_cpu(lcores: Sequence[int], cpus: Sequence[int]) -> str:
    return ",".join(f"{lc}@{cpu}" for lc, cpu in zip(lcores, cpus))


def suggest_lcores(lcores: Sequence[int], cpus: Iterable[int]) -> str:
    """An ``eal.lcores`` fix that gives each lcore a CPU of its own, or drops lcores to fit."""
    cpus_l = sorted(set(cpus))
    lcores = sorted(set(lcores))
    if not cpus_l:
        return "give each lcore a CPU of its own in eal.lcores"
    if len(cpus_l) >= len(lcores):
        return f'give each lcore a CPU of its own, e.g. eal.lcores = "{_one_per_cpu(lcores, cpus_l)}"'
    text = _one_per_cpu(lcores, cpus_l)
    return (f"this host has {len(cpus_l)} CPU{'s' if len(cpus_l) != 1 else ''} for {len(lcores)} lcores: "
            f'use fewer lcores, one per CPU, e.g. eal.lcores = "{text}"')


def pinning_problems(expected: Sequence[LcoreMap], threads: Mapping[int, LcoreThread],
                     host_cpus: Iterable[int] = ()) -> list[str]:
    """Each lcore's thread may run on exactly one CPU, the one the profile maps it to, and every
    reading of that (inside, outside, EAL's) agrees. One line per problem."""
    problems: list[str] = []
    lcores = [m.lcore for m in expected]
    fix = suggest_lcores(lcores, host_cpus or set().union(*(m.cpus for m in expected)))
    for m in expected:
        t = threads.get(m.lcore)
        want = cpus_text(m.cpus)
        if t is None:
            problems.append(f"lcore {m.lcore}: the profile maps it to {want} but EAL runs no such lcore; "
                            "check eal.lcores and eal.extra_args")
            continue
        if t.seen_lcore != m.lcore:
            problems.append(f"{t.label}: the thread launched for lcore {m.lcore} reports rte_lcore_id() "
                            f"{t.seen_lcore}; EAL's lcore table is inconsistent")
        views = {k: v for k, v in t.views().items() if v is not None}
        if len(set(views.values())) > 1:
            shown = "; ".join(f"{k}: {format_cpus(v)}" for k, v in views.items())
            problems.append(f"{t.label}: the readings of its CPU affinity disagree ({shown}); "
                            "something re-pinned the thread after EAL started (taskset, cgroup cpuset, "
                            "rte_thread_set_affinity)")
        if len(t.cpus) != 1:
            problems.append(f"{t.label}: may run on {cpus_text(t.cpus)} ({len(t.cpus)} CPUs); expected exactly "
                            f"one CPU (profile maps it to {want}); {fix}")
        elif t.cpus != m.cpus:
            problems.append(f"{t.label}: pinned to {cpus_text(t.cpus)}, expected {want} as the profile maps it; "
                            "check that nothing re-pins EAL threads (taskset, cgroup cpuset)")
    for lc, t in sorted(threads.items()):
        if lc not in lcores and len(t.cpus) != 1:  # e.g. a service lcore from eal.extra_args
            problems.append(f"{t.label}: not in eal.lcores and may run on {cpus_text(t.cpus)}; expected exactly "
                            "one CPU; pin it to one CPU of its own")
    return problems


def sharing_problems(threads: Mapping[int, LcoreThread], host_cpus: Iterable[int] = ()) -> list[str]:
    """No two lcores' threads may be allowed on the same CPU."""
    problems: list[str] = []
    ts = sorted(threads.values(), key=lambda t: t.lcore)
    fix = suggest_lcores([t.lcore for t in ts], host_cpus or set().union(*(t.cpus for t in ts)))
    for i, a in enumerate(ts):
        for b in ts[i + 1:]:
            shared = a.cpus & b.cpus
            if shared:
                where = (f"are both pinned to {cpus_text(shared)}" if a.cpus == b.cpus == shared else
                         f"share {cpus_text(shared)} (one may run on {cpus_text(a.cpus)}, the other on "
                         f"{cpus_text(b.cpus)})")
                problems.append(f"{a.label} and {b.label} {where}; expected each lcore alone on its own CPU; {fix}")
    return problems


def observed_cpu_problems(workers: Sequence[WorkerLoad]) -> list[str]:
    """Each worker, loaded, was seen running only on the CPU it is pinned to."""
    problems = []
    for w in workers:
        for how, seen in (("inside its loop (sched_getcpu)", w.cpus_seen_inside),
                          (f"from outside (/proc/self/task/{w.tid}/stat, {w.outside_samples} samples)",
                           w.cpus_seen_outside)):
            stray = seen - w.expected_cpus
            if stray:
                problems.append(f"{w.label}: seen running on {cpus_text(seen)} {how} over {w.seconds:.2f} s, "
                                f"expected only {cpus_text(w.expected_cpus)}; pin each lcore to one CPU in "
                                "eal.lcores")
    return problems


def ctx_switch_problems(workers: Sequence[WorkerLoad], max_per_s: float) -> list[str]:
    problems = []
    for w in workers:
        rate = w.nonvoluntary_per_s
        if rate > max_per_s:
            problems.append(
                f"{w.label} on {cpus_text(w.expected_cpus)}: {w.nonvoluntary} involuntary context switches in "
                f"{w.seconds:.2f} s ({rate:,.0f}/s) while busy ({w.load}), expected at most {max_per_s:,.0f}/s; "
                "something else runs on that CPU: give the lcore a CPU no other lcore or process uses "
                "(isolcpus/nohz_full, irqaffinity, cgroup cpusets), or raise "
                f"eal.{PROFILE_KEY_CTX_SWITCHES}")
    return problems


def max_ctx_switches_per_s(profile) -> float:
    """The profile's limit, ``eal.max_involuntary_ctx_switches_per_s`` (default 1000/s, see above)."""
    return float(profile.eal.max_involuntary_ctx_switches_per_s)


def threads_on(cpus: Iterable[int], threads: Iterable[TaskInfo]) -> list[TaskInfo]:
    """Threads allowed on any of ``cpus``."""
    want = frozenset(cpus)
    return [t for t in threads if t.cpus_allowed & want]


# ---------------------------------------------------------------- isolation (advice, never a verdict)


ISOLATION_KEYS = ("isolcpus", "nohz_full", "rcu_nocbs")
_ISOLCPUS_FLAGS = {"nohz", "domain", "managed_irq"}


@dataclass(frozen=True)
class IsolationState:
    cpus: frozenset[int]                          # the data-plane CPUs judged
    covered: Mapping[str, frozenset[int] | None]  # per kernel option: data-plane CPUs it covers (None: unreadable)
    raw: Mapping[str, str]
    advice: tuple[str, ...]

    @property
    def isolated(self) -> frozenset[int]:
        """Data-plane CPUs every option covers."""
        out = set(self.cpus)
        for v in self.covered.values():
            out &= v or set()
        return frozenset(out)


def parse_isolation_option(key: str, value: str, last_cpu: int | None = None) -> frozenset[int]:
    """CPUs a kernel isolation option names (``isolcpus=nohz,domain,1-3`` -> {1, 2, 3})."""
    if value == "all":
        if last_cpu is None:
            raise ValueError(f"{key}=all without a CPU count")
        return frozenset(range(last_cpu + 1))
    if key == "isolcpus":
        parts = [p for p in value.split(",") if p not in _ISOLCPUS_FLAGS]
        value = ",".join(parts)
    return parse_cpu_list(value, last_cpu=last_cpu)


def isolation_state(inventory: Mapping[str, str], data_cpus: Iterable[int], *,
                    last_cpu: int | None = None) -> IsolationState:
    """What the kernel command line does for the data-plane CPUs, with advice (never a failure:
    a VM or a CI runner usually has no isolation at all)."""
    cpus = frozenset(data_cpus)
    covered: dict[str, frozenset[int] | None] = {}
    raw: dict[str, str] = {}
    advice: list[str] = []
    for key in ISOLATION_KEYS:
        value = inventory.get(f"cmdline_{key}", "")
        raw[key] = value
        if not value:  # not on the command line (the inventory cannot tell a bare "rcu_nocbs" apart)
            covered[key] = frozenset()
            continue
        try:
            covered[key] = parse_isolation_option(key, value, last_cpu) & cpus
        except ValueError:
            covered[key] = None
            advice.append(f"{key}={value}: not understood; check the kernel command line")
    missing = {k: cpus - (v or frozenset()) for k, v in covered.items()}
    cpu_list = format_cpus(cpus)
    if cpus and not any(raw.values()):
        advice.append(f"no CPU isolation on this host: the scheduler, the timer tick and RCU callbacks share the "
                      f"data-plane {cpus_text(cpus)} with everything else; for a deployment add "
                      f"isolcpus={cpu_list} nohz_full={cpu_list} rcu_nocbs={cpu_list} (and irqaffinity= the other "
                      "CPUs) to the kernel command line")
    else:
        for key in ISOLATION_KEYS:
            if missing[key] and covered[key] is not None:
                advice.append(f"{key} does not cover data-plane {cpus_text(missing[key])} "
                              f"({key}={raw[key] or 'not set'}); add them to {key}=")
    return IsolationState(cpus=cpus, covered=covered, raw=raw, advice=tuple(advice))


# ---------------------------------------------------------------- NUMA


SOCKET_ANY = -1


def numa_problems(ports: Sequence[tuple[str, int]], lcore_sockets: Mapping[int, int], pool_name: str,
                  pool_sockets: Iterable[int]) -> tuple[list[str], list[str]]:
    """(problems, unknowns): each port's socket must equal its polling lcores' socket and the
    socket of its mempool's memory. A port that reports no socket (SOCKET_ID_ANY, e.g. a vdev)
    cannot be judged: it goes to ``unknowns``."""
    problems, unknowns = [], []
    pool_sockets = frozenset(pool_sockets)
    for name, sock in ports:
        if sock == SOCKET_ANY or sock is None:
            unknowns.append(f"port {name} reports no NUMA socket (SOCKET_ID_ANY)")
            continue
        for lc, ls in sorted(lcore_sockets.items()):
            if ls != sock:
                problems.append(f"port {name} is on socket {sock} but its polling lcore {lc} is on socket {ls}; "
                                f"map the polling lcore to a CPU of socket {sock} in eal.lcores")
        if not pool_sockets:
            unknowns.append(f"pool {pool_name}: the socket of its memory is unknown")
        elif pool_sockets != {sock}:
            problems.append(f"port {name} is on socket {sock} but pool {pool_name}'s memory is on socket "
                            f"{format_cpus(pool_sockets)}; set mempool.socket = {sock} (or -1 for the ports' "
                            "socket) and give that socket hugepages")
    return problems, unknowns


# ---------------------------------------------------------------- busy-poll efficiency


@dataclass(frozen=True)
class BusyPoll:
    lcore: int
    seconds: float
    cycles: int
    rx_pkts: int
    tx_pkts: int
    polls: int
    empty_polls: int
    loops: int

    @property
    def cycles_per_pkt(self) -> float | None:
        """TSC cycles of the loop per packet received (None when none was)."""
        return self.cycles / self.rx_pkts if self.rx_pkts else None

    @property
    def empty_poll_share(self) -> float | None:
        return self.empty_polls / self.polls if self.polls else None


def busy_poll(lcore: int, stats) -> BusyPoll:
    """Busy-poll figures from a probe.RunStats (tsc, rx_polls, rx_empty_polls, rx_pkts)."""
    cycles = int(round(stats.elapsed_s * stats.tsc_hz))
    return BusyPoll(lcore=lcore, seconds=stats.elapsed_s, cycles=cycles, rx_pkts=stats.total("rx_pkts"),
                    tx_pkts=stats.total("tx_pkts"), polls=stats.total("rx_polls"),
                    empty_polls=stats.total("rx_empty_polls"), loops=stats.loops)
