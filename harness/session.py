"""One harness run: provision the host, boot EAL, own the pool and topologies, undo it all.

Data flows one way: profile -> topology -> probe -> measurements -> verdicts -> reports.
Every host change goes through the journal first, so ``close()`` (or ``python -m harness
restore`` after a kill) puts the host back as it was.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from harness import preflight, probe, topology
from harness.errors import BringUpError, HarnessError, HostError, ProbeError, ProbeNoMemoryError, UsageError
from harness.profile import Profile
from harness.system import hugepages, lease, pci
from harness.system.journal import Journal

RUNTIME_BASE = "/var/run/dpdk"
# the one definition of the hugepages a profile needs lives with the preflight that judges it
HUGEPAGE_MARGIN = preflight.HUGEPAGE_MARGIN
hugepages_needed = preflight.hugepages_needed


def eal_args(profile: Profile, *, file_prefix: str, huge_dir: str | None) -> list[str]:
    """EAL argv for this profile. Never lets EAL scan PCI: --no-pci, or an allowlist per --nic."""
    e = profile.eal
    args = ["dpdk-harness", "--lcores", e.lcores_arg(), "--main-lcore", str(e.main_lcore),
            "--file-prefix", file_prefix, f"--log-level={e.log_level}"]
    if e.hugepages:
        args += ["-m", str(e.memory_mb), "--huge-unlink"]
        if huge_dir:
            args += ["--huge-dir", huge_dir]
    else:
        args += ["--no-huge", "-m", str(e.memory_mb)]
    if profile.ports.nic_mode:
        for addr in profile.ports.pci:
            args += ["-a", addr]
    else:
        args.append("--no-pci")
    args += list(e.extra_args)
    if "--no-pci" in args and any(a in ("-a", "--allow") for a in args):
        raise UsageError("eal.extra_args: -a/--allow given in vdev mode; pass NICs with --nic instead")
    return args


@dataclass
class Figure:
    """A measured number, its target, and the verdict (None when the figure has no target)."""
    test: str
    name: str
    value: float
    unit: str = ""
    target: float | None = None
    op: str = ">="
    passed: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class HarnessSession:
    """Lazily provisions and boots on first use; ``close()`` is idempotent and undoes everything."""

    def __init__(self, profile: Profile, *, journal: Journal | None = None, sys_root: str = "/sys",
                 proc_root: str = "/proc", probe_fault: str | None = None,
                 cpu_wait_s: float = lease.DEFAULT_TIMEOUT_S, share_cpus: bool = False):
        self.profile = profile
        self.probe_fault = probe_fault  # a deliberate probe fault by name (mutation tests), or None
        self.cpu_wait_s = cpu_wait_s
        self.share_cpus = share_cpus  # --dpdk-share-cpus: no lease
        self.say = None  # callable(line) that reaches the user's terminal (the plugin sets it)
        self.soak: dict | None = None  # --dpdk-soak: series and verdicts, for the report
        self.lease: lease.CpuLease | None = None
        self.journal = journal or Journal()
        self.sys_root, self.proc_root = sys_root, proc_root
        self.eal: probe.Eal | None = None
        self.pool: probe.Mempool | None = None
        self.pool_error: HarnessError | None = None
        self.file_prefix = f"dh-{os.getpid()}-{secrets.token_hex(3)}"
        self.huge_dir: str | None = None
        self.bound: dict[str, str] = {}
        self.topologies: dict[tuple, topology.Topology] = {}
        self.figures: list[Figure] = []
        self.skips: list[tuple[str, str]] = []
        self.inventory: dict[str, str] = {}  # the host as found, taken once for every report
        self.histograms: list[dict[str, Any]] = []  # latency histograms for the reports (Recorder.histogram)
        self.bringup_errors: dict[tuple, BringUpError] = {}   # topologies that did not come up, and why
        self.bringup_reported: dict[str, str] = {}           # cause -> the check that reported it
        self.bringup_owner_collected = False                  # the ports check (owns_bringup) will run
        self.leaks: list[str] = []                            # one line per check that leaked mbufs
        self.pool_unjudgeable: str | None = None              # why pool-dependent checks cannot be judged
        self.overloaded: list[str] = []   # checks that ended "tester overloaded" (ERRORs, not FAILs)
        self.error: HarnessError | None = None
        #: told each setup step and its time ("reserving 136 hugepages of 2048 kB", 0.03): progress lines
        self.on_step: Callable[[str, float], None] | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._owner_pid = os.getpid()

    # ---------------------------------------------------------------- bring-up

    @property
    def started(self) -> bool:
        return self.eal is not None

    def start(self) -> "HarnessSession":
        with self._lock:
            if self.error is not None:
                raise self.error
            if self.started:
                return self
            if self._closed:
                raise HarnessError("the harness session is closed")
            try:
                self._take_cpus()  # may wait for another run: before any host change, outside the boot lock
                with hugepages.boot_lock(self.sys_root):
                    self._boot()
            except HarnessError as exc:
                self.error = exc
                self.close()
                raise
            return self

    @contextlib.contextmanager
    def _step(self, what: str):
        """Time one setup step and tell ``on_step`` when it is done (not when it failed: the error says)."""
        start = time.monotonic()
        yield
        if self.on_step is not None:
            try:
                self.on_step(what, time.monotonic() - start)
            except Exception:  # a progress line must never cost the run
                pass

    def data_plane_cpus(self) -> set[int]:
        """The CPUs of the worker lcores: where traffic loops busy-poll."""
        e = self.profile.eal
        return set().union(*(m.cpus for m in e.lcores if m.lcore != e.main_lcore))

    def _take_cpus(self) -> None:
        allowed = preflight.allowed_cpus(self.proc_root, self.sys_root)
        n = len(self.profile.eal.lcores)

        def suggest(held: set[int]) -> str:
            free = sorted(allowed - held)
            if not free:
                return ""
            from harness.profile import LcoreMap, format_lcores
            return format_lcores([LcoreMap(i, frozenset({free[i % len(free)]})) for i in range(n)])

        if not self.share_cpus:
            self.lease = lease.CpuLease(self.data_plane_cpus(), sys_root=self.sys_root, proc_root=self.proc_root,
                                        timeout_s=self.cpu_wait_s, suggest=suggest, say=self.say).acquire()
        # nested runs (started from this process once EAL pinned its main thread) may use these CPUs too
        os.environ[preflight.PARENT_CPUS_ENV] = ",".join(map(str, sorted(allowed)))

    def _boot(self) -> None:
        """Provision, boot EAL, create the pool: under the hugepage boot lock."""
        # again under the lock: pages other runs took since the run started count now
        preflight.check_hugepages(self.profile, sys_root=self.sys_root, proc_root=self.proc_root)
        self._provision()
        probe.require_lib()
        if not os.path.isdir(RUNTIME_BASE):
            # EAL creates it; other DPDK processes may use it too: removed only once empty
            self.journal.record("empty_dir", path=RUNTIME_BASE)
        self.journal.record("dir", path=os.path.join(RUNTIME_BASE, self.file_prefix))
        run = probe.RunConfig(burst=self.profile.queues.burst,
                              faults=probe.FAULTS[self.probe_fault] if self.probe_fault else 0)
        args = eal_args(self.profile, file_prefix=self.file_prefix, huge_dir=self.huge_dir)
        with self._step(f"EAL boot (lcores {self.profile.eal.lcores_arg()}, {self.profile.eal.memory_mb} MB)"):
            try:
                self.eal = probe.Eal.boot(args, run=run)
            except ProbeError as exc:
                line = preflight.eal_rejection(getattr(exc, "eal_output", ""), args, self.profile.eal.extra_args)
                if line:
                    raise UsageError(line) from None
                raise
        mp = self.profile.mempool
        try:
            with self._step(f"mbuf pool ({mp.mbufs} mbufs of {mp.data_room} B, cache {mp.cache})"):
                self.pool = probe.Mempool("dh_pool", mp.mbufs, mp.cache, mp.data_room, mp.socket)
        except ProbeError as exc:
            # the deployment's pool itself is broken: suites/mempool says which rule it
            # breaks; checks that need the pool fail at setup naming this error
            self.pool_error = exc

    def _provision(self) -> None:
        e = self.profile.eal
        if e.hugepages:
            node = self.profile.mempool.socket if self.profile.mempool.socket >= 0 else None
            if node is not None and not os.path.isdir(os.path.join(self.sys_root, f"devices/system/node/node{node}")):
                raise HostError(f"mempool.socket = {node}: this host has no NUMA node {node}; set mempool.socket = -1 "
                                "(the ports' own socket) or the node of the ports (see suites/affinity NUMA check)")
            need = hugepages_needed(self.profile)
            with self._step(f"reserving {need} hugepages of {e.hugepage_size_kb} kB"):
                try:
                    hugepages.ensure_free(self.journal, e.hugepage_size_kb, need, node, sys_root=self.sys_root)
                except HostError as exc:
                    if node is None:
                        raise
                    raise HostError(f"mempool.socket = {node}: node {node} cannot give the pool its hugepages ({exc}); "
                                    "set mempool.socket = -1 (the ports' own socket) or a node with free hugepages, "
                                    "and keep eal.lcores on that node") from exc
            with self._step("mounting hugetlbfs"):
                self.huge_dir = hugepages.ensure_mount(self.journal, e.hugepage_size_kb, proc_root=self.proc_root)
        for addr in self.profile.ports.pci:
            with self._step(f"binding {addr} to a DPDK driver"):
                self.bound[addr] = pci.bind(self.journal, addr, sys_root=self.sys_root)

    def worker_lcores(self) -> list[int]:
        self.start()
        return self.eal.worker_lcores()

    def require_pool(self) -> probe.Mempool:
        self.start()
        if self.pool is None:
            raise HarnessError(f"the profile's mempool cannot be created ({self.pool_error}); "
                               "suites/mempool names the rule it breaks")
        return self.pool

    def topology(self, kind: str | None = None, *, queues: int | None = None) -> topology.Topology:
        """The profile's ports (kind None), or a vdev topology of that kind, configured and started.

        On a NIC run every kind is the NIC ports, configured once with the profile's queues: ``queues``
        does not apply (a started port cannot be configured again, and the deployment's configuration is
        what is under test); callers read the counts from ``port_conf``."""
        self.require_pool()
        if self.profile.ports.nic_mode:
            kind, queues = "nic", None
        kind = kind or self.profile.ports.topology
        key = (kind, queues)
        with self._lock:
            failed = self.bringup_errors.get(key)
            if failed is not None:
                raise failed  # all or nothing: the one cause, again, never a different symptom
            topo = self.topologies.get(key)
            if topo is None:
                with self._step(f"ports: {kind}" + (f" with {queues} queues" if queues else "")):
                    own_kind = "nic" if self.profile.ports.nic_mode else self.profile.ports.topology
                    own = queues is None and kind == own_kind
                    try:
                        try:
                            topo = self._make(kind, queues)
                        except BringUpError as exc:
                            # a topology of the harness's own (a tap for the RSS or exhaustion checks) that the
                            # deployment's pool cannot fill next to the others: drop those, and try once more
                            if own or not isinstance(exc.__cause__, ProbeNoMemoryError) or not self._drop_helpers():
                                raise
                            topo = self._make(kind, queues)
                    except BringUpError as err:
                        err.profile_ports = own
                        self.bringup_errors[key] = err
                        raise
                    self.topologies[key] = topo
            return topo

    def _make(self, kind: str, queues: int | None) -> topology.Topology:
        """Build and bring up one topology, or raise BringUpError with nothing of it left behind."""
        topo = None
        try:
            if kind == "nic":
                topo = topology.nic_ports(self.profile)
            else:
                topo = topology.build(kind, self.profile, self.journal, queues=queues)
            topology.bring_up(topo, self.profile, self.pool, queues=queues)
            return topo
        except HarnessError as exc:
            if topo is not None:  # no half-built topology stays behind
                topology.teardown(topo)
            if isinstance(exc, BringUpError):
                raise
            err = BringUpError(f"{kind} ports: {exc}; the ports could not be built")
            err.cause = str(exc)
            raise err from exc

    def _drop_helpers(self) -> bool:
        """Tear down the topologies the harness built for itself (not the profile's own ports), giving
        their mbufs back to the pool; True when there was one."""
        own = ("nic" if self.profile.ports.nic_mode else self.profile.ports.topology, None)
        dropped = False
        for key in [k for k in self.topologies if k != own]:
            topology.teardown(self.topologies.pop(key))
            dropped = True
        return dropped

    def bringup_failed(self, cause: str) -> bool:
        """Whether the profile's own ports failed to come up for ``cause`` (their check reports it)."""
        return any(e.profile_ports and e.cause == cause for e in self.bringup_errors.values())

    # ---------------------------------------------------------------- teardown

    def close(self) -> list[str]:
        """Stop runs, remove topologies, free the pool, clean up EAL, undo host changes."""
        if os.getpid() != self._owner_pid:
            return []  # a forked child: the host changes belong to the parent, never undo them here
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            errors: list[str] = []
            if self.eal is not None:
                probe.stop_all_runs()
                for topo in self.topologies.values():
                    errors += topology.teardown(topo)
                self.topologies.clear()
                for step in (lambda: self.pool and self.pool.free(), self.eal.cleanup):
                    try:
                        step()
                    except HarnessError as exc:
                        errors.append(str(exc))
            errors += self.journal.undo_all()
            if self.lease is not None:
                self.lease.release()
            return errors
