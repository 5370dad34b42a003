"""The Python face of harness/native/perf.c: GEN / RECV / DUT tasks on a worker lcore, the TSC rate,
the generator's frame. The only caller of the probe's ``lib`` for throughput.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from harness.errors import UsageError, check
from harness.native.defines import define
from harness.perf.model import check_lat_sample, frame_pattern
from harness.probe import (
    Loop,
    Mempool,
    Port,
    burst_or_session,
    ffi,
    lib,
    require_lib,
)

# ---------------------------------------------------------------- runs on worker lcores

ROLE_GEN, ROLE_RECV, ROLE_DUT = define("PROBE_PERF_GEN"), define("PROBE_PERF_RECV"), define("PROBE_PERF_DUT")
DUT_SPIN, DUT_SCHEDULED = define("PROBE_PERF_DUT_SPIN"), define("PROBE_PERF_DUT_SCHEDULED")
GAP_NS = 20_000     # a loop turn longer than this is a gap: the lcore was not running


@dataclass(frozen=True)
class PerfTask:
    role: int
    rx_port: int = 0
    rx_queue: int = 0
    tx_port: int = 0
    tx_queue: int = 0
    seq_base: int = 0
    count: int = 0
    rate_pps: int = 0
    duration_ns: int = 0
    flows: int = 1
    sizes: tuple[int, ...] = (64,)
    cost_cycles: int = 0
    dut_queue: int = 0
    flags: int = 0
    gen_task: int = 0
    lat_sample: int = 1

    @classmethod
    def gen(cls, tx: Port, *, queue: int = 0, seq_base: int = 0, count: int = 0, rate_pps: float = 0,
            duration_s: float = 0, flows: int = 1, frames=64, lat_sample: int = 1) -> "PerfTask":
        """``lat_sample``: stamp the TSC in 1 frame of this many (a power of two; the frames whose
        sequence number less seq_base is a multiple of it), 0 in the others; receivers time only
        the stamped ones. 1 stamps every frame (harness.perf.LAT_SAMPLE is what the suites use)."""
        return cls(ROLE_GEN, tx_port=tx.id, tx_queue=queue, seq_base=seq_base, count=int(count),
                   rate_pps=int(round(rate_pps)), duration_ns=int(duration_s * 1e9), flows=flows,
                   sizes=frame_pattern(frames), lat_sample=check_lat_sample(lat_sample))

    @classmethod
    def recv(cls, rx: Port, *, queue: int = 0, seq_base: int = 0, count: int = 0) -> "PerfTask":
        return cls(ROLE_RECV, rx_port=rx.id, rx_queue=queue, seq_base=seq_base, count=int(count))

    @classmethod
    def dut(cls, rx: Port, tx: Port, *, rxq: int = 0, txq: int = 0, cost_cycles: int = 0, queue: int = 0,
            spin: bool = False, scheduled_by: int | None = None) -> "PerfTask":
        """``scheduled_by``: index of the GEN task (same run) whose schedule gives arrival times."""
        flags = (DUT_SPIN if spin else 0) | (DUT_SCHEDULED if scheduled_by is not None else 0)
        return cls(ROLE_DUT, rx_port=rx.id, rx_queue=rxq, tx_port=tx.id, tx_queue=txq,
                   cost_cycles=int(cost_cycles), dut_queue=int(queue), flags=flags, gen_task=scheduled_by or 0)


class PerfRun(Loop):
    """GEN / RECV / DUT tasks looping on one worker lcore until stopped (perf.c)."""

    START, STATS, STOP, FREE = "probe_perf_start", "probe_perf_stats", "probe_perf_stop", "probe_perf_free"
    HANDLE, STATS_STRUCT, what = "probe_perf", "struct probe_perf_stats", "perf run"

    def __init__(self, lcore: int, tasks: Sequence[PerfTask], *, burst: int | None = None,
                 pool: Mempool | None = None,
                 tsc_hz: int = 0, gap_ns: int = GAP_NS):
        if not 1 <= len(tasks) <= lib.PROBE_PERF_MAX_TASKS:
            raise UsageError(f"a perf run takes 1..{lib.PROBE_PERF_MAX_TASKS} tasks, got {len(tasks)}")
        c = ffi.new("struct probe_perf_conf *")
        c.lcore, c.burst, c.tsc_hz, c.gap_ns = lcore, burst_or_session(burst), tsc_hz, gap_ns
        c.pool = pool.handle if pool is not None else ffi.NULL
        c.n_tasks = len(tasks)
        for i, t in enumerate(tasks):
            ct = c.tasks[i]
            for name in ("role", "rx_port", "rx_queue", "tx_port", "tx_queue", "seq_base", "count", "rate_pps",
                         "duration_ns", "cost_cycles", "dut_queue", "flags", "gen_task", "lat_sample"):
                setattr(ct, name, getattr(t, name))
            ct.n_flows = t.flows
            ct.n_sizes = len(t.sizes)
            ct.sizes[0:len(t.sizes)] = list(t.sizes)
        self.conf, self.tasks, self._pool = c, list(tasks), pool
        self._hists: dict[int, list[int]] = {}
        self._launch(lcore, c)

    def stats(self) -> dict:
        """Counters: tsc_hz, elapsed_s, loops, running, gen_done and ``tasks`` (one dict per task)."""
        if self._final is not None:
            return self._final
        st = self._read_stats()
        tasks = []
        for i in range(st.n_tasks):
            t = st.task[i]
            tasks.append({name: getattr(t, name) for name, _ in ffi.typeof("struct probe_perf_task_stats").fields})
        hz = st.tsc_hz or 1
        return {"tsc_hz": st.tsc_hz, "elapsed_s": (st.tsc_last - st.tsc_start) / hz, "loops": st.loops,
                "gaps": st.gaps, "gap_s": st.gap_cycles / hz, "gap_max_s": st.gap_max / hz,
                "running": bool(st.running), "gen_done": bool(st.gen_done), "tasks": tasks}

    def hist(self, task: int) -> list[int]:
        if task in self._hists:
            return self._hists[task]
        n_buckets = lib.PROBE_PERF_HIST_BUCKETS
        buf = ffi.new("uint64_t[]", n_buckets)
        n = check(lib.probe_perf_hist(self._h, task, buf, n_buckets), f"perf histogram of task {task}")
        return list(buf[0:n])

    def wait_generated(self, timeout_s: float) -> bool:
        return bool(check(lib.probe_perf_wait(self._h, int(timeout_s * 1000)), "perf run wait"))

    def _collect(self) -> dict:
        final = self.stats()
        self._hists = {i: self.hist(i) for i, t in enumerate(self.tasks) if t.role == ROLE_RECV}
        return final

    def stop(self) -> dict:
        """Stop the loop (idempotent) and return its final counters."""
        return super().stop()


_MEASURED_HZ: int | None = None


def measured_tsc_hz(ms: int = 100) -> int:
    """TSC ticks per second against CLOCK_MONOTONIC_RAW, measured once per process. EAL's own figure
    (rte_get_tsc_hz) can be a nominal frequency a few 0.1 % off, and every paced rate would be too."""
    global _MEASURED_HZ
    if _MEASURED_HZ is None:
        out = ffi.new("uint64_t *")
        check(require_lib().probe_perf_tsc_hz(ms, out), "measure the TSC frequency")
        _MEASURED_HZ = int(out[0])
    return _MEASURED_HZ


def build_frame(frame_size: int, *, flow: int = 0, seq: int = 0, tsc: int = 0) -> bytes:
    """One generator frame, as perf.c writes it (without the FCS)."""
    size = require_lib().PROBE_FRAME_MAX_SIZE
    buf = ffi.new("uint8_t[]", size)
    n = check(lib.probe_perf_frame(buf, size, frame_size, flow, seq, tsc), "perf frame")
    return bytes(ffi.buffer(buf, n))
