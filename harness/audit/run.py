"""Audit of a running DPDK application: find it, watch it for a window, hand the numbers to model.py.

Read-only by construction: the application is read through its telemetry socket
(:mod:`harness.system.telemetry`) and ``/proc`` (:mod:`harness.system.process`,
:func:`harness.system.procfs.process_threads`); nothing here boots EAL, reserves hugepages, binds a
device, writes to the application or signals it. Bad input (no such pid, not DPDK,
``--no-telemetry``, two applications on one prefix) is a :class:`UsageError` naming the fix,
raised before anything is observed.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.audit import model
from harness.errors import HarnessError, UsageError
from harness.profile import AuditConfig, Profile
from harness.system import process, telemetry
from harness.system.inventory import online_cpus
from harness.system.procfs import CLK_TCK, parse_cpu_list, process_threads, worker_lcore_of

SAMPLE_S = 0.2            # how often every host thread's CPU time and last CPU are read in the window
STATS_KEYS = ("ipackets", "opackets", "imissed", "ierrors", "oerrors", "rx_nombuf")
_XSTAT_BAD = re.compile(r"error|miss|drop|nombuf|fail|discard", re.I)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:+-]+$")


# ---------------------------------------------------------------- finding the application


@dataclass(frozen=True)
class Target:
    pid: int
    info: process.ProcessInfo
    socket: str


def _fix_pid() -> str:
    return "give the pid of a running DPDK primary process (pgrep -a dpdk) or its --file-prefix"


def _sharers(info: process.ProcessInfo, proc_root: str) -> list[process.ProcessInfo]:
    prefix = process.file_prefix(info.cmdline)
    return [p for p in process.processes_with_prefix(prefix, proc_root) if p.pid != info.pid]


def _shared_prefix_error(spec: str, prefix: str, procs) -> UsageError:
    pids = ", ".join(f"{p.pid} ({p.name})" for p in procs)
    return UsageError(f"--audit {spec}: two applications use --file-prefix {prefix} (pids {pids}): they share one "
                      "runtime directory and only one of them serves its telemetry socket; start each DPDK "
                      "application with its own --file-prefix, then audit it")


def resolve(spec: str, *, proc_root: str = "/proc", runtime_base: str = telemetry.RUNTIME_BASE) -> Target:
    """``--audit PID|FILE_PREFIX`` -> the process and its telemetry socket, or a one-line UsageError."""
    spec = str(spec).strip()
    if spec.isdigit():
        pid = int(spec)
        try:
            info = process.read_process(pid)
        except ProcessLookupError:
            raise UsageError(f"--audit {pid}: no process {pid} (it has exited, or the pid is wrong); "
                             f"{_fix_pid()}") from None
        socks = telemetry.sockets_of(pid, proc_root)
        sharers = _sharers(info, proc_root)
        if not socks:
            if not process.looks_like_dpdk(info, proc_root):
                raise UsageError(f"--audit {pid}: {info.name} (pid {pid}) is not a DPDK application: it maps no "
                                 f"{process.EAL_LIBRARY} and serves no DPDK telemetry socket; {_fix_pid()}")
            if "--no-telemetry" in process.eal_args(info.cmdline):
                raise UsageError(f"--audit {pid}: {info.name} (pid {pid}) runs with --no-telemetry, so it serves "
                                 "no telemetry socket to read its counters from; restart it without --no-telemetry")
            if sharers:
                raise _shared_prefix_error(spec, process.file_prefix(info.cmdline), [info] + sharers)
            raise UsageError(f"--audit {pid}: {info.name} (pid {pid}) serves no DPDK telemetry socket (a secondary "
                             "process, or telemetry disabled at build time); audit its primary process")
        if sharers:
            raise _shared_prefix_error(spec, process.file_prefix(info.cmdline), [info] + sharers)
        return Target(pid, info, socks[0])
    if not _PREFIX_RE.match(spec):
        raise UsageError(f"--audit {spec!r}: neither a pid nor a --file-prefix; {_fix_pid()}")
    rundir = Path(runtime_base) / spec
    if not rundir.is_dir():
        raise UsageError(f"--audit {spec}: not a pid, and there is no DPDK runtime directory {rundir}; "
                         f"{_fix_pid()}")
    procs = process.processes_with_prefix(spec, proc_root)
    if len(procs) > 1:
        raise _shared_prefix_error(spec, spec, procs)
    socks = telemetry.sockets_in(spec, runtime_base)
    if not socks:
        who = f"{procs[0].name} (pid {procs[0].pid})" if procs else "no live application"
        raise UsageError(f"--audit {spec}: {rundir} holds no telemetry socket ({who}): the application runs with "
                         "--no-telemetry or has exited; restart it without --no-telemetry")
    for path in socks:
        try:
            with telemetry.Telemetry(path) as tel:
                pid = tel.pid
        except telemetry.TelemetryError:
            continue
        return resolve(str(pid), proc_root=proc_root, runtime_base=runtime_base)
    raise UsageError(f"--audit {spec}: {', '.join(map(str, socks))} answer no connection: the application has "
                     f"exited and left its runtime directory behind; {_fix_pid()}")


def describe(target: Target) -> model.App:
    """Connect and read what the launch line was (``/eal/params``, ``/eal/app_params``)."""
    with telemetry.Telemetry(target.socket) as tel:
        if tel.pid != target.pid:
            raise UsageError(f"--audit {target.pid}: {target.socket} is served by pid {tel.pid}, not {target.pid}")
        params = tel.query("/eal/params") or [target.info.name]
        app_params = tel.query("/eal/app_params") if tel.has("/eal/app_params") else []
        return model.App(pid=target.pid, name=target.info.name, cmdline=target.info.command,
                         dpdk_version=tel.version, socket=target.socket, eal=model.parse_eal_params(params),
                         app_args=tuple(app_params or ()))


# ---------------------------------------------------------------- watching it


@dataclass
class Snapshot:
    t: float
    stats: dict[int, dict]
    xstats: dict[int, dict]
    tasks: dict[int, object]          # tid -> affinity.TaskInfo (the application's threads)
    ticks: dict[int, int]             # tid -> utime + stime of the application's threads


@dataclass
class Observation:
    """Everything the checks judge: one window of the application, read at both ends and sampled."""

    app: model.App
    seconds: float
    commands: frozenset[str]
    threads: list[model.LcoreThread]
    other_threads: list[object]                        # TaskInfo of the application's non-lcore threads
    ports: list[model.PortWindow]
    pools: list[model.PoolInfo]
    pool_errors: list[str]
    neighbours: list[model.Neighbour]
    dp_cpus: frozenset[int]
    host_cpus: frozenset[int]
    cpu_node: dict[int, int]
    hugepage_kb: dict[int, int]
    port_info: dict[int, dict] = field(default_factory=dict)

    @property
    def version(self) -> tuple[int, int]:
        return telemetry.version_tuple(self.app.dpdk_version)

    def has(self, command: str) -> bool:
        return command in self.commands


def cpu_nodes(sys_root: str = "/sys") -> dict[int, int]:
    """``{cpu: NUMA node}`` from ``devices/system/node/node*/cpulist`` (empty without NUMA in sysfs)."""
    out: dict[int, int] = {}
    base = Path(sys_root) / "devices/system/node"
    for d in sorted(base.glob("node[0-9]*")):
        try:
            cpus = parse_cpu_list((d / "cpulist").read_text())
        except (OSError, ValueError):
            continue
        for c in cpus:
            out[c] = int(d.name[4:])
    return out


def _snapshot(tel: telemetry.Telemetry, pid: int, port_ids: list[int], proc_root: str) -> Snapshot:
    stats = {p: tel.query("/ethdev/stats", p) or {} for p in port_ids}
    xstats = {p: tel.query("/ethdev/xstats", p) or {} for p in port_ids}
    tasks = {t.tid: t for t in process_threads(pid, proc_root)}
    return Snapshot(time.monotonic(), stats, xstats, tasks, {tid: t.cpu_ticks for tid, t in tasks.items()})


def _lcore_threads(app: model.App, a: Snapshot, b: Snapshot, seconds: float) -> tuple[list, list]:
    lcores, others = [], []
    for tid, t in sorted(b.tasks.items()):
        before = a.tasks.get(tid)
        if tid == app.pid:
            lcore, role = (app.eal.main_lcore if app.eal.main_lcore is not None else 0), "main"
        else:
            lcore, role = worker_lcore_of(t.name), "worker"
        if lcore is None:
            others.append(t)
            continue
        lcores.append(model.LcoreThread(
            lcore=lcore, tid=tid, name=t.name, role=role, cpus=t.cpus_allowed,
            nonvoluntary=t.nonvoluntary - (before.nonvoluntary if before else 0),
            voluntary=t.voluntary - (before.voluntary if before else 0),
            cpu_s=(t.cpu_ticks - (before.cpu_ticks if before else 0)) / CLK_TCK, seconds=seconds))
    return lcores, others


def _port_windows(a: Snapshot, b: Snapshot, info: dict[int, dict], seconds: float) -> list[model.PortWindow]:
    out = []
    for p, end in b.stats.items():
        start = a.stats.get(p, {})
        deltas = {k: int(end.get(k, 0)) - int(start.get(k, 0)) for k in STATS_KEYS}
        nq = int(info.get(p, {}).get("nb_rx_queues", 1) or 1)
        q = tuple(int(x) - int(y) for x, y in zip(end.get("q_ipackets", []), start.get("q_ipackets", [])))
        xa, xb = a.xstats.get(p, {}), b.xstats.get(p, {})
        bad = {k: int(v) - int(xa.get(k, 0)) for k, v in xb.items()
               if _XSTAT_BAD.search(k) and isinstance(v, int) and int(v) - int(xa.get(k, 0)) > 0}
        out.append(model.PortWindow(port=p, name=str(info.get(p, {}).get("name", f"port{p}")), seconds=seconds,
                                    deltas=deltas, q_ipackets=q[:nq], nb_rx_queues=nq,
                                    numa_node=int(info.get(p, {}).get("numa_node", -1)), xstats=bad))
    return out


def _pools(tel) -> tuple[list[model.PoolInfo], list[str]]:
    pools, errors = [], []
    for name in tel.query("/mempool/list") or []:
        d = tel.query("/mempool/info", name) or {}
        try:
            in_use = d.get("in_use_count", d.get("in_use"))
            pools.append(model.PoolInfo(name=str(d["name"]), size=int(d["size"]), cache_size=int(d["cache_size"]),
                                        elt_size=int(d.get("elt_size", 0)), socket_id=int(d.get("socket_id", -1)),
                                        populated=int(d.get("populated_size", 0)),
                                        in_use=int(in_use) if in_use is not None else None))
        except (KeyError, TypeError, ValueError) as exc:
            errors.append(f"/mempool/info,{name}: cannot read {exc}")
    return pools, errors


def observe(app: model.App, cfg: AuditConfig, *, proc_root: str = "/proc", sys_root: str = "/sys",
            exclude_pids: tuple[int, ...] = ()) -> Observation:
    """Read the application at the start and the end of ``audit.window_s``; in between, sample where
    every other thread of the host runs (for the neighbour check). Raises HarnessError when the
    application goes away."""
    skip = {app.pid, os.getpid(), *exclude_pids}
    try:
        with telemetry.Telemetry(app.socket) as tel:
            commands = tel.commands()
            port_ids = [int(p) for p in (tel.query("/ethdev/list") or [])]
            info = {p: tel.query("/ethdev/info", p) or {} for p in port_ids}
            pools, pool_errors = _pools(tel)
            a = _snapshot(tel, app.pid, port_ids, proc_root)
            workers = [t for t in a.tasks.values() if worker_lcore_of(t.name) is not None]
            dp = frozenset().union(*(t.cpus_allowed for t in workers)) if workers else frozenset()
            used: dict[int, int] = {}
            seen: dict[int, set[int]] = {}
            prev = process.host_threads(proc_root)
            deadline = a.t + cfg.window_s
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(SAMPLE_S, left))
                cur = process.host_threads(proc_root)
                for tid, t in cur.items():
                    p = prev.get(tid)
                    if t.pid in skip or p is None or t.last_cpu not in dp:
                        continue
                    d = t.ticks - p.ticks
                    if d > 0:
                        used[tid] = used.get(tid, 0) + d
                        seen.setdefault(tid, set()).add(t.last_cpu)
                prev = cur
            b = _snapshot(tel, app.pid, port_ids, proc_root)
    except telemetry.TelemetryError as exc:
        if not process.alive(app.pid):
            raise HarnessError(f"{app.label()} exited during the audit window; nothing to judge") from None
        raise HarnessError(str(exc)) from None
    seconds = b.t - a.t
    threads, others = _lcore_threads(app, a, b, seconds)
    neighbours = []
    for tid, ticks in used.items():
        t = prev.get(tid)
        if t is None:
            continue
        try:
            cmd = process.read_process(t.pid).command
        except ProcessLookupError:
            cmd = "(exited)"
        neighbours.append(model.Neighbour(pid=t.pid, tid=tid, name=t.name, process=cmd,
                                          cpu_share=ticks / CLK_TCK / seconds, cpus=frozenset(seen[tid]),
                                          kernel=t.kernel))
    return Observation(app=app, seconds=seconds, commands=commands, threads=threads, other_threads=others,
                       ports=_port_windows(a, b, info, seconds), pools=pools, pool_errors=pool_errors,
                       neighbours=sorted(neighbours, key=lambda n: -n.cpu_share), dp_cpus=dp,
                       host_cpus=frozenset(online_cpus(sys_root)), cpu_node=cpu_nodes(sys_root),
                       hugepage_kb=process.hugepage_kb(app.pid, proc_root), port_info=info)


# ---------------------------------------------------------------- the session of an audit run


class AuditSession:
    """Plugin state of ``--audit`` runs: the application, the profile's [audit] thresholds, the one
    observation every check judges (made on first use), and the figures and skips for the reports.
    Quacks like :class:`harness.session.HarnessSession` where the plugin and the reports look."""

    started = False
    topologies: dict = {}
    audit = True

    def __init__(self, profile: Profile, target: Target, app: model.App, *, proc_root: str = "/proc",
                 sys_root: str = "/sys"):
        self.profile, self.target, self.app = profile, target, app
        self.proc_root, self.sys_root = proc_root, sys_root
        self.figures: list = []
        self.skips: list[tuple[str, str]] = []
        self.inventory: dict[str, str] = {}     # the host as found (the plugin fills it, as for its own runs)
        self._observation: Observation | None = None
        self._error: HarnessError | None = None

    @classmethod
    def open(cls, profile: Profile, spec: str, **roots) -> "AuditSession":
        target = resolve(spec, proc_root=roots.get("proc_root", "/proc"))
        try:
            app = describe(target)
        except telemetry.TelemetryError as exc:
            raise UsageError(f"--audit {spec}: {exc}") from None
        return cls(profile, target, app, **roots)

    def observation(self) -> Observation:
        if self._error is not None:
            raise self._error
        if self._observation is None:
            try:
                self._observation = observe(self.app, self.profile.audit, proc_root=self.proc_root,
                                            sys_root=self.sys_root)
            except HarnessError as exc:
                self._error = exc
                raise
        return self._observation

    def header(self) -> list[str]:
        a = self.app
        return [f"AUDIT (read-only) of {a.name}, pid {a.pid}, {a.dpdk_version}: no EAL booted here, nothing "
                "reserved, bound or signalled",
                f"application: {a.cmdline}",
                f"telemetry: {a.socket}; lcores: {a.eal.lcores_text()}",
                f"window: {self.profile.audit.window_s:g} s (audit.window_s, profile {self.profile.name})"]

    def report_inventory(self) -> dict[str, str]:
        a = self.app
        return {"audited_pid": str(a.pid), "audited_application": a.name, "audited_cmdline": a.cmdline,
                "audited_dpdk_version": a.dpdk_version, "audit_window_s": f"{self.profile.audit.window_s:g}",
                "audited_telemetry_socket": a.socket}

    def port_records(self) -> list[dict]:
        """The audited application's ports, for the reports."""
        obs = self._observation
        if obs is None:
            return [{"topology": "audit", "note": f"ports of {self.app.label()} (not observed in this run)"}]
        out = []
        fields = {"name": ("name", str), "socket": ("numa_node", int), "mac": ("mac_addr", str),
                  "rx_queues": ("nb_rx_queues", int), "tx_queues": ("nb_tx_queues", int)}
        for p, info in sorted(obs.port_info.items()):
            rec: dict = {"port": p, "topology": f"audited: {self.app.label()}"}
            for key, (src, kind) in fields.items():
                if isinstance(info.get(src), (int, str)) and not isinstance(info.get(src), bool):
                    rec[key] = kind(info[src])
            out.append(rec)
        return out

    def close(self) -> list[str]:
        return []
