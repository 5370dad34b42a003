"""Loops on worker lcores: the one lifecycle (Loop) and the generic forward/generate/sink Run."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.errors import UsageError, check
from harness.probe.core import (
    C_FAULTS,
    F_COPY_FWD,
    F_LEAK_UNSENT,
    F_RSS_KEY,
    F_STRICT_DESC_LIM,
    MODE_FWD,
    MODE_GEN,
    MODE_SINK,
    ffi,
    lib,
    require_lib,
    struct_to_dict,
)
from harness.probe.eal import Eal, Mempool, RunConfig
from harness.probe.ports import Port

# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class Task:
    mode: int
    rx_port: int = 0
    rx_queue: int = 0
    tx_port: int = 0
    tx_queue: int = 0

    @classmethod
    def fwd(cls, rx: Port, tx: Port, rxq: int = 0, txq: int = 0) -> "Task":
        return cls(MODE_FWD, rx.id, rxq, tx.id, txq)

    @classmethod
    def gen(cls, tx: Port, txq: int = 0) -> "Task":
        return cls(MODE_GEN, 0, 0, tx.id, txq)

    @classmethod
    def sink(cls, rx: Port, rxq: int = 0) -> "Task":
        return cls(MODE_SINK, rx.id, rxq, 0, 0)


@dataclass
class RunStats:
    tsc_hz: int
    elapsed_s: float
    loops: int
    cpu_first: int
    cpu_last: int
    running: bool
    gen_done: bool
    pool_min_avail: int
    trace_used: int = 0
    tasks: list[dict] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(t[key] for t in self.tasks)

    @property
    def rx_pkts(self) -> int:
        return self.total("rx_pkts")

    @property
    def tx_pkts(self) -> int:
        return self.total("tx_pkts")

    def rate(self, key: str = "tx_pkts") -> float:
        return self.total(key) / self.elapsed_s if self.elapsed_s > 0 else 0.0


_ACTIVE_RUNS: "set[Run]" = set()

#: deliberate faults by name (mutation tests: --dpdk-probe-fault), booted with Eal.boot(run=RunConfig(faults=...))
FAULTS = {"leak-unsent": F_LEAK_UNSENT, "copy-fwd": F_COPY_FWD, "rss-key": F_RSS_KEY,
          "strict-desc-lim": F_STRICT_DESC_LIM}


def run_config() -> RunConfig:
    """The booted EAL's per-run settings (the profile's defaults before boot)."""
    eal = Eal.current()
    return eal.run if eal is not None else RunConfig()


def active_faults() -> int:
    """The FAULTS bits the booted EAL applies to every run (0 without EAL or faults)."""
    return run_config().faults


def burst_or_session(burst: int | None) -> int:
    """``burst`` if a caller chose one, else the session's (the profile's ``queues.burst``)."""
    return burst if burst is not None else run_config().burst


def stop_all_runs() -> None:
    """Stop every loop still running (teardown, Ctrl-C)."""
    for run in list(_ACTIVE_RUNS):
        run.stop()


def register_loop(loop) -> None:
    """A loop launched on a worker lcore outside :class:`Run` (anything with ``stop()``): teardown
    stops it, or rte_eal_cleanup would wait for it forever."""
    _ACTIVE_RUNS.add(loop)


def unregister_loop(loop) -> None:
    _ACTIVE_RUNS.discard(loop)


class Loop:
    """A job looping on a worker lcore (Run here; PerfRun, Capture and Spin in the areas' native.py):
    registered for teardown once launched, stopped once (``stop()`` is idempotent), then freed."""

    #: the probe's calls for this kind of job, its handle type and its stats struct
    START = STATS = STOP = FREE = HANDLE = STATS_STRUCT = ""
    what = "loop"           # in messages: "stop {what} on lcore N"
    lcore: int
    _h: Any
    _final: Any

    def _launch(self, lcore: int, *args: Any) -> None:
        """Start the job (``START(*args, &handle)``) and register it for teardown."""
        out = ffi.new(f"{self.HANDLE} **")
        check(getattr(require_lib(), self.START)(*args, out), f"launch {self.what} on lcore {lcore}")
        self.lcore, self._h, self._final = lcore, out[0], None
        # stop_all_runs (session teardown, Ctrl-C) stops it: a loop left running hangs rte_eal_cleanup
        register_loop(self)

    def _read_stats(self) -> Any:
        """The job's live stats struct (``STATS(handle, &stats)``)."""
        st = ffi.new(f"{self.STATS_STRUCT} *")
        check(getattr(require_lib(), self.STATS)(self._h, st), f"{self.what} stats on lcore {self.lcore}")
        return st

    def stats(self) -> Any:
        raise NotImplementedError

    def _collect(self) -> Any:
        """The final result, read between stop and free."""
        return self.stats()

    def stop(self) -> Any:
        """Stop the loop (idempotent) and return its final result."""
        if self._final is None:
            lib_ = require_lib()
            check(getattr(lib_, self.STOP)(self._h), f"stop {self.what} on lcore {self.lcore}")
            self._final = self._collect()
            check(getattr(lib_, self.FREE)(self._h), f"{self.what} free")
            self._h = ffi.NULL
            unregister_loop(self)
        return self._final

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Run(Loop):
    """A set of tasks looping on one worker lcore until stopped."""

    START, STATS, STOP, FREE = "probe_run_start", "probe_run_stats", "probe_run_stop", "probe_run_free"
    HANDLE, STATS_STRUCT, what = "probe_run", "struct probe_run_stats", "run"

    def __init__(self, lcore: int, tasks: Sequence[Task], *, burst: int | None = None, pool: Mempool | None = None,
                 frame_size: int = 64, flows: int = 1, count: int = 0, rate_pps: int = 0, flags: int = 0,
                 trace: int = 0):
        if not tasks or len(tasks) > lib.PROBE_MAX_TASKS:
            raise UsageError(f"a run takes 1..{lib.PROBE_MAX_TASKS} tasks, got {len(tasks)}")
        c = ffi.new("struct probe_run_conf *")
        c.lcore, c.burst, c.flags = lcore, burst_or_session(burst), flags | (active_faults() & C_FAULTS)
        c.pool = pool.handle if pool is not None else ffi.NULL
        c.frame_size, c.n_flows, c.gen_count, c.gen_rate_pps = frame_size, flows, count, int(rate_pps)
        c.n_tasks = len(tasks)
        for i, t in enumerate(tasks):
            c.tasks[i] = dataclasses.astuple(t)
        self._trace = ffi.new("struct probe_trace_rec[]", trace) if trace else ffi.NULL  # alive while C writes
        c.trace, c.trace_len = self._trace, trace
        self.conf = c
        self.tasks = list(tasks)
        self._pool = pool  # keep alive while C may use it
        self._launch(lcore, c)

    def stats(self) -> RunStats:
        if self._final is not None:
            return self._final
        st = self._read_stats()
        tasks = [struct_to_dict(st.task[i], "struct probe_task_stats") for i in range(st.n_tasks)]
        hz = st.tsc_hz or 1
        return RunStats(tsc_hz=st.tsc_hz, elapsed_s=(st.tsc_last - st.tsc_start) / hz if st.tsc_hz else 0.0,
                        loops=st.loops, cpu_first=st.cpu_first, cpu_last=st.cpu_last, running=bool(st.running),
                        gen_done=bool(st.gen_done), pool_min_avail=st.pool_min_avail,
                        trace_used=st.trace_used, tasks=tasks)

    def trace(self) -> list[dict]:
        """The per-packet records of the first ``trace`` packets (after stop)."""
        if not self._trace:
            return []
        n = self.stop().trace_used
        return [struct_to_dict(self._trace[i], "struct probe_trace_rec") for i in range(n)]

    def wait_generated(self, timeout_s: float) -> bool:
        return bool(check(lib.probe_run_wait(self._h, int(timeout_s * 1000)), "run wait"))

    def stop(self) -> RunStats:
        return super().stop()


def run_for(seconds: float, lcore: int, tasks: Sequence[Task], **kw) -> RunStats:
    """Start a run, let it go for ``seconds``, stop it and return its counters."""
    run = Run(lcore, tasks, **kw)
    try:
        time.sleep(seconds)
    finally:
        stats = run.stop()
    return stats
