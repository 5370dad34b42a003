"""The Python face of the probe: Eal, Port, Mempool and Run handles.

Nothing here touches packets. Python configures, starts loops on worker lcores, sleeps,
stops them and reads counters; every probe call goes through :func:`harness.errors.check`.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from harness import __version__
from harness.errors import DpdkUnavailableError, ProbeAlreadyError, UsageError, check
from harness.profile import QueuesConfig

try:
    from harness._probe import ffi, lib
except ImportError as exc:  # pragma: no cover - exercised by the bad-input tests in a subprocess
    _IMPORT_ERROR = exc
    ffi = lib = None
else:
    _IMPORT_ERROR = None

MODE_FWD, MODE_GEN, MODE_SINK = 0, 1, 2
F_LEAK_UNSENT, F_COPY_FWD = 1, 2
MAX_TASKS = 16

# rte_ethdev.h RTE_ETH_RSS_* bits (DPDK 22.11), by the names profiles use
RSS_BITS = {
    "ipv4": 1 << 2, "frag-ipv4": 1 << 3, "ipv4-tcp": 1 << 4, "ipv4-udp": 1 << 5,
    "ipv4-sctp": 1 << 6, "ipv4-other": 1 << 7, "ipv6": 1 << 8, "frag-ipv6": 1 << 9,
    "ipv6-tcp": 1 << 10, "ipv6-udp": 1 << 11, "ipv6-sctp": 1 << 12, "ipv6-other": 1 << 13,
    "l2-payload": 1 << 14,
}
RSS_GROUPS = {
    "ip": ("ipv4", "frag-ipv4", "ipv4-other", "ipv6", "frag-ipv6", "ipv6-other"),
    "tcp": ("ipv4-tcp", "ipv6-tcp"),
    "udp": ("ipv4-udp", "ipv6-udp"),
    "sctp": ("ipv4-sctp", "ipv6-sctp"),
}


def rss_hf(names: Iterable[str]) -> int:
    """Profile hash-function names -> RTE_ETH_RSS_* mask."""
    mask = 0
    for name in names:
        for part in RSS_GROUPS.get(name, (name,)):
            mask |= RSS_BITS[part]
    return mask


def require_lib():
    """The compiled module, or a one-line DpdkUnavailableError saying how to get it."""
    if lib is None:
        raise DpdkUnavailableError(
            f"the probe module is not built ({_IMPORT_ERROR}); install DPDK "
            "(apt-get install dpdk dpdk-dev libdpdk-dev pkg-config) and reinstall the harness "
            "with `pip install -e .`"
        )
    built = ffi.string(lib.probe_version()).decode()
    if built != __version__:
        raise DpdkUnavailableError(
            f"stale probe build: compiled for dpdk-harness {built}, package is {__version__}; "
            "rebuild with `pip install -e .`"
        )
    return lib


def dpdk_version() -> str:
    buf = ffi.new("char[]", 128)
    check(require_lib().probe_dpdk_version(buf, 128), "rte_version")
    return ffi.string(buf).decode()


def _struct_to_dict(obj, ctype: str) -> dict:
    out = {}
    for name, fld in ffi.typeof(ctype).fields:
        val = getattr(obj, name)
        if fld.type.kind == "array":
            if fld.type.item.cname == "char":
                val = ffi.string(val).decode(errors="replace")
            else:
                val = list(val)
        out[name] = val
    return out


# ---------------------------------------------------------------- EAL


@dataclass(frozen=True)
class RunConfig:
    """Per-run settings every loop on a worker lcore takes from the session (one place), unless a caller
    passes its own: ``burst`` is the profile's ``queues.burst``; ``faults`` are deliberate probe faults
    (FAULTS bits, mutation tests only: --dpdk-probe-fault)."""
    burst: int = QueuesConfig.burst
    faults: int = 0


class Eal:
    """The process's one EAL. ``Eal.boot(args)`` once; a second boot raises EALREADY."""

    _instance: "Eal | None" = None
    _lock = threading.Lock()

    def __init__(self, args: Sequence[str], run: RunConfig | None = None):
        self.args = list(args)
        self.run = run or RunConfig()
        self._argv_keep = [ffi.new("char[]", a.encode()) for a in self.args]
        self._argv = ffi.new("char *[]", self._argv_keep + [ffi.NULL])

    @classmethod
    def boot(cls, args: Sequence[str], *, run: RunConfig | None = None) -> "Eal":
        """Boot EAL; every loop of this process then takes its per-run settings from ``run``."""
        lib_ = require_lib()
        with cls._lock:
            if cls._instance is not None or lib_.probe_eal_initialized():
                raise ProbeAlreadyError(114, "rte_eal_init: EAL is already initialised in this process")
            eal = cls(args, run)
            check(lib_.probe_eal_init(len(eal.args), eal._argv), "rte_eal_init " + " ".join(eal.args))
            cls._instance = eal
            return eal

    @classmethod
    def current(cls) -> "Eal | None":
        return cls._instance

    def lcores(self) -> list[dict]:
        ids = ffi.new("uint32_t[]", 1024)
        n = check(lib.probe_lcore_list(ids, 1024), "rte_lcore list")
        out = []
        info = ffi.new("struct probe_lcore_info *")
        for i in range(min(n, 1024)):
            check(lib.probe_lcore_info(ids[i], info), f"lcore {ids[i]} info")
            out.append(_struct_to_dict(info[0], "struct probe_lcore_info"))
        return out

    def worker_lcores(self) -> list[int]:
        return [lc["lcore_id"] for lc in self.lcores() if not lc["is_main"]]

    def cleanup(self) -> None:
        with Eal._lock:
            if Eal._instance is self:
                check(lib.probe_eal_cleanup(), "rte_eal_cleanup")
                Eal._instance = None


# ---------------------------------------------------------------- mempools


@dataclass(frozen=True)
class PoolStats:
    size: int
    avail: int
    in_use: int
    cache_size: int
    cached: int
    socket_id: int
    data_room: int
    elt_size: int
    hugepage_sz: int


class Mempool:
    def __init__(self, name: str, n: int, cache: int, data_room: int, socket: int = -1):
        self.name = name
        out = ffi.new("probe_pool **")
        check(require_lib().probe_pool_create(name.encode(), n, cache, data_room, socket, out),
              f"rte_pktmbuf_pool_create({name!r}, n={n}, cache={cache}, data_room={data_room}, socket={socket})")
        self._h = out[0]

    @property
    def handle(self):
        if self._h is None:
            raise ValueError(f"mempool {self.name} is freed")
        return self._h

    def stats(self) -> PoolStats:
        st = ffi.new("struct probe_pool_stats *")
        check(lib.probe_pool_stats(self.handle, st), f"mempool {self.name} stats")
        return PoolStats(**_struct_to_dict(st[0], "struct probe_pool_stats"))

    def hold(self, n: int) -> int:
        """Take up to ``n`` mbufs out of the pool and keep them (exhaustion); returns how many."""
        return check(lib.probe_pool_hold(self.handle, n), f"hold {n} mbufs of {self.name}")

    def release(self) -> int:
        """Give back every mbuf :meth:`hold` took; returns how many."""
        return check(lib.probe_pool_release(self.handle), f"release held mbufs of {self.name}")

    def bench(self, lcore: int, *, bulk: int = 32, rounds: int = 200_000, use_cache: bool = True) -> dict:
        """get/put bulk rate on ``lcore``, through its per-lcore cache or around it."""
        out = ffi.new("struct probe_pool_bench *")
        check(lib.probe_pool_bench(self.handle, lcore, bulk, rounds, int(use_cache), out),
              f"mempool {self.name} get/put bench on lcore {lcore}")
        secs = out.cycles / out.tsc_hz if out.tsc_hz else 0.0
        return {"ops": out.ops, "seconds": secs, "failed_gets": out.failed_gets,
                "mops": out.ops / secs / 1e6 if secs > 0 else 0.0}

    def free(self) -> None:
        if self._h is not None:
            self.release()
            check(lib.probe_pool_free(self._h), f"rte_mempool_free({self.name})")
            self._h = None


# ---------------------------------------------------------------- ports


@dataclass(frozen=True)
class PortConf:
    nb_rxq: int = 1
    nb_txq: int = 1
    rx_desc: int = 1024
    tx_desc: int = 1024
    tx_free_thresh: int = 0
    tx_rs_thresh: int = 0
    mtu: int = 0
    lpbk_mode: int = 0
    promisc: bool = True
    scatter: bool = False
    rss: bool = False
    rss_hf: int = 0
    rss_key: bytes = b""


class Port:
    """An ethdev port. Created by a topology (vdev) or found by name (PCI)."""

    def __init__(self, port_id: int, role: str = ""):
        self.id = port_id
        self.role = role
        self.started = False
        self.conf: PortConf | None = None

    @classmethod
    def by_name(cls, name: str, role: str = "") -> "Port":
        return cls(check(require_lib().probe_port_by_name(name.encode()), f"port {name!r}"), role)

    def info(self) -> dict:
        out = ffi.new("struct probe_port_info *")
        check(lib.probe_port_info(self.id, out), f"port {self.id} info")
        d = _struct_to_dict(out[0], "struct probe_port_info")
        d["mac"] = ":".join(f"{b:02x}" for b in d["mac"])
        return d

    @property
    def name(self) -> str:
        return self.info()["name"]

    @property
    def driver(self) -> str:
        return self.info()["driver"]

    def fw_version(self) -> str:
        """The NIC's firmware version, or "" where the PMD reports none (vdevs)."""
        buf = ffi.new("char[]", 128)
        rc = lib.probe_port_fw_version(self.id, buf, 128)
        return ffi.string(buf).decode(errors="replace") if rc == 0 else ""

    def link(self, wait_ms: int = 0) -> dict:
        out = ffi.new("struct probe_link *")
        check(lib.probe_port_link(self.id, out, wait_ms), f"port {self.id} link")
        return _struct_to_dict(out[0], "struct probe_link")

    def configure(self, conf: PortConf, pool: Mempool) -> None:
        c = ffi.new("struct probe_port_conf *")
        for fld in dataclasses.fields(conf):
            if fld.name == "rss_key":
                continue
            setattr(c, fld.name, int(getattr(conf, fld.name)))
        if conf.rss_key:
            c.rss_key[0:len(conf.rss_key)] = conf.rss_key
            c.rss_key_len = len(conf.rss_key)
        check(lib.probe_port_configure(self.id, c, pool.handle),
              f"configure port {self.id} ({self.driver}) with {conf.nb_rxq} rx / {conf.nb_txq} tx queues, "
              f"{conf.rx_desc}/{conf.tx_desc} descriptors")
        self.conf = conf

    def start(self) -> None:
        check(lib.probe_port_start(self.id), f"rte_eth_dev_start(port {self.id})")
        self.started = True

    def stop(self) -> None:
        if self.started:
            check(lib.probe_port_stop(self.id), f"rte_eth_dev_stop(port {self.id})")
            self.started = False

    def close(self) -> None:
        self.stop()
        check(lib.probe_port_close(self.id), f"rte_eth_dev_close(port {self.id})")

    def stats(self) -> dict:
        out = ffi.new("struct probe_port_stats *")
        check(lib.probe_port_stats(self.id, out), f"port {self.id} stats")
        return _struct_to_dict(out[0], "struct probe_port_stats")

    def tx_done_cleanup(self, queue: int = 0, free_cnt: int = 0) -> int:
        """rte_eth_tx_done_cleanup; ProbeUnsupportedError where the PMD lacks it."""
        return check(lib.probe_port_tx_done_cleanup(self.id, queue, free_cnt),
                     f"rte_eth_tx_done_cleanup(port {self.id} {self.driver}, queue {queue})")

    def reset_stats(self) -> None:
        check(lib.probe_port_stats_reset(self.id), f"port {self.id} stats reset")

    def set_reta(self, reta: Sequence[int]) -> None:
        """Program the redirection table, one queue per entry (rte_eth_dev_rss_reta_update)."""
        arr = ffi.new("uint16_t[]", list(reta))
        check(lib.probe_rss_reta_update(self.id, arr, len(reta)),
              f"rte_eth_dev_rss_reta_update(port {self.id}, {self.driver}, {len(reta)} entries)")

    def __repr__(self) -> str:
        return f"Port({self.id}, role={self.role!r})"


def vdev_create(name: str, args: str = "") -> Port:
    pid = check(require_lib().probe_vdev_create(name.encode(), args.encode()),
                f"rte_vdev_init({name!r}, {args!r})")
    return Port(pid)


def vdev_destroy(name: str) -> None:
    check(lib.probe_vdev_destroy(name.encode()), f"rte_vdev_uninit({name!r})")


def ring_wire_create(name: str, queues: int = 1, ring_size: int = 1024, socket: int = -1) -> tuple[Port, Port]:
    a, b = ffi.new("uint16_t *"), ffi.new("uint16_t *")
    check(require_lib().probe_ring_wire_create(name.encode(), queues, ring_size, socket, a, b),
          f"ring wire {name!r} ({queues} queues, {ring_size} slots)")
    return Port(a[0], "a"), Port(b[0], "b")


def ring_wire_pending(name: str) -> int:
    return check(lib.probe_ring_wire_pending(name.encode()), f"ring wire {name!r} pending")


def ring_wire_destroy(name: str) -> None:
    check(lib.probe_ring_wire_destroy(name.encode()), f"ring wire {name!r} destroy")


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
FAULTS = {"leak-unsent": F_LEAK_UNSENT, "copy-fwd": F_COPY_FWD}


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
        if not tasks or len(tasks) > MAX_TASKS:
            raise UsageError(f"a run takes 1..{MAX_TASKS} tasks, got {len(tasks)}")
        c = ffi.new("struct probe_run_conf *")
        c.lcore, c.burst, c.flags = lcore, burst_or_session(burst), flags | active_faults()
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
        tasks = [_struct_to_dict(st.task[i], "struct probe_task_stats") for i in range(st.n_tasks)]
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
        return [_struct_to_dict(self._trace[i], "struct probe_trace_rec") for i in range(n)]

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


# ---------------------------------------------------------------- single mbufs


class Packet:
    """One mbuf, for zero-copy checks. ``view()`` is a memoryview over its data, without a copy.

    Views never outlive the mbuf: :meth:`free` (and handing the mbuf to :meth:`tx`) releases every
    view first, after which using one raises ``ValueError``; a view that is still exported
    (e.g. wrapped by numpy) makes ``free`` refuse, rather than leave a dangling pointer.
    """

    def __init__(self, handle, what: str):
        self._h = handle
        self._views: list[memoryview] = []
        self.what = what

    @classmethod
    def alloc(cls, pool: Mempool, frame_size: int = 64) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_mbuf_alloc(pool.handle, frame_size, out), f"alloc a {frame_size}-byte frame")
        return cls(out[0], f"{frame_size}-byte frame")

    @classmethod
    def chain(cls, pool: Mempool, total: int, seg_len: int) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_mbuf_alloc_chain(pool.handle, total, seg_len, out),
              f"chain a {total}-byte frame in {seg_len}-byte segments")
        return cls(out[0], f"{total}-byte chained frame")

    @classmethod
    def receive(cls, port: Port, queue: int = 0, timeout_s: float = 1.0) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_mbuf_rx(port.id, queue, int(timeout_s * 1000), out),
              f"receive one frame on port {port.id} queue {queue}")
        return cls(out[0], f"frame received on port {port.id}")

    @classmethod
    def external(cls, pool: Mempool, extset, frame_size: int = 64) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(require_lib().probe_extbuf_alloc(pool.handle, frame_size, extset, out), "attach an external buffer")
        return cls(out[0], "external-buffer frame")

    @property
    def handle(self):
        if self._h is None:
            raise ValueError(f"{self.what}: the mbuf was freed or handed to the PMD")
        return self._h

    def info(self) -> dict:
        out = ffi.new("struct probe_mbuf_info *")
        check(lib.probe_mbuf_info(self.handle, out), "mbuf info")
        return _struct_to_dict(out[0], "struct probe_mbuf_info")

    def view(self) -> memoryview:
        data, n = ffi.new("uint8_t **"), ffi.new("uint32_t *")
        check(lib.probe_mbuf_data(self.handle, data, n), "mbuf data")
        mv = memoryview(ffi.buffer(data[0], n[0]))
        self._views.append(mv)
        return mv

    def c_byte(self, i: int) -> int:
        """What C reads at byte i of the data."""
        return check(lib.probe_mbuf_byte(self.handle, i), f"mbuf byte {i}")

    def clone(self, pool: Mempool) -> "Packet":
        out = ffi.new("probe_mbuf **")
        check(lib.probe_mbuf_clone(self.handle, pool.handle, out), "rte_pktmbuf_clone")
        return Packet(out[0], f"clone of {self.what}")

    def _release_views(self) -> None:
        for mv in self._views:
            mv.release()  # BufferError while exported: the mbuf must then stay alive
        self._views.clear()

    def tx(self, port: Port, queue: int = 0) -> None:
        """Hand the mbuf to the PMD; on success this handle no longer owns it."""
        self._release_views()
        check(lib.probe_mbuf_tx(self.handle, port.id, queue), f"transmit {self.what} on port {port.id}")
        self._h = None

    def free(self) -> None:
        if self._h is not None:
            self._release_views()
            check(lib.probe_mbuf_free(self._h), "rte_pktmbuf_free")
            self._h = None

    def __enter__(self) -> "Packet":
        return self

    def __exit__(self, *exc) -> None:
        self.free()


def extbuf_set():
    """Counters shared by external buffers: attached, freed (callback calls), extra_frees."""
    require_lib()
    return ffi.new("struct probe_extbuf_set *")


# ---------------------------------------------------------------- outside DPDK


def inject(ifname: str, count: int, *, flows: int = 1, frame_size: int = 64, netns: str | None = None,
           rate_pps: int = 0) -> int:
    """Send ``count`` 198.18.0.0/15 frames into ``ifname`` from the kernel side (AF_PACKET, in C),
    paced to ``rate_pps`` if given."""
    path = f"/run/netns/{netns}" if netns else ""
    return check(require_lib().probe_inject(ifname.encode(), path.encode(), flows, count, frame_size, int(rate_pps)),
                 f"inject {count} frames on {ifname}" + (f" in netns {netns}" if netns else ""))


def write_pcap(path: str, count: int, *, flows: int = 1, frame_size: int = 64) -> int:
    return check(require_lib().probe_write_pcap(str(path).encode(), flows, count, frame_size),
                 f"write pcap {path}")
