"""The Python face of the probe: Eal, Port, Mempool and Run handles, and single mbufs.

Nothing here touches packets in bulk. Python configures, starts loops on worker lcores, sleeps,
stops them and reads counters; every probe call goes through :func:`harness.errors.check`.
core.py holds ``ffi``/``lib``; eal.py, ports.py, runs.py and mbufs.py are the generic face, and each
area's native.py the rest.
"""
from harness.errors import check
from harness.probe.core import (
    F_COPY_FWD,
    F_LEAK_UNSENT,
    F_RSS_KEY,
    MAX_TASKS,
    MODE_FWD,
    MODE_GEN,
    MODE_SINK,
    RSS_BITS,
    RSS_GROUPS,
    dpdk_version,
    ffi,
    lib,
    require_lib,
    rss_hf,
    struct_to_dict,
)
from harness.probe.eal import Eal, Mempool, PoolStats, RunConfig
from harness.probe.mbufs import Packet, extbuf_set, inject, write_pcap
from harness.probe.ports import (
    Port,
    PortConf,
    ring_wire_create,
    ring_wire_destroy,
    ring_wire_pending,
    vdev_create,
    vdev_destroy,
)
from harness.probe.runs import (
    FAULTS,
    Loop,
    Run,
    RunStats,
    Task,
    active_faults,
    burst_or_session,
    register_loop,
    run_config,
    run_for,
    stop_all_runs,
    unregister_loop,
)

__all__ = [
    "FAULTS", "F_COPY_FWD", "F_LEAK_UNSENT", "F_RSS_KEY", "MAX_TASKS", "MODE_FWD", "MODE_GEN", "MODE_SINK", "RSS_BITS",
    "RSS_GROUPS", "Eal", "Loop", "Mempool", "Packet", "PoolStats", "Port", "PortConf", "Run", "RunConfig",
    "RunStats", "Task", "active_faults", "burst_or_session", "check", "dpdk_version", "extbuf_set", "ffi",
    "inject", "lib", "register_loop", "require_lib", "ring_wire_create", "ring_wire_destroy", "ring_wire_pending",
    "rss_hf", "run_config", "run_for", "stop_all_runs", "struct_to_dict", "unregister_loop", "vdev_create",
    "vdev_destroy", "write_pcap",
]
