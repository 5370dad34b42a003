"""The probe on real DPDK (vdevs): EAL boot, typed errors, pools, ports, runs."""
import errno

import pytest

from harness import probe
from harness.errors import (
    HarnessError,
    ProbeAlreadyError,
    ProbeError,
    ProbeInvalidError,
)


def test_eal_booted_with_profile_lcores(eal, profile):
    lcores = eal.lcores()
    assert [lc["lcore_id"] for lc in lcores] == list(profile.eal.lcore_ids())
    by_id = {lc["lcore_id"]: lc for lc in lcores}
    for m in profile.eal.lcores:
        assert by_id[m.lcore]["cpu_count"] == len(m.cpus)
        assert by_id[m.lcore]["cpu_id"] == min(m.cpus)
    assert "--no-pci" in eal.args and "--file-prefix" in eal.args


def test_second_eal_init_reports_ealready(eal):
    with pytest.raises(ProbeAlreadyError) as info:
        probe.Eal.boot(["again", "--no-pci"])
    assert info.value.errno == errno.EALREADY
    assert isinstance(info.value, HarnessError) and isinstance(info.value, OSError)


def test_pool_is_hugepage_backed_and_accounted(pool, profile):
    st = pool.stats()
    assert st.size == profile.mempool.mbufs
    assert st.avail + st.in_use == st.size
    assert st.cache_size == profile.mempool.cache
    assert st.data_room == profile.mempool.data_room
    assert st.hugepage_sz == profile.eal.hugepage_size_kb * 1024


def test_dpdk_rejection_is_a_typed_error(harness, pool):
    a, b = probe.ring_wire_create("dhbad", queues=1)
    try:
        with pytest.raises(ProbeInvalidError) as info:  # net_ring offers 1 queue; ask for 8
            a.configure(probe.PortConf(nb_rxq=8, nb_txq=8), pool)
        assert info.value.errno == errno.EINVAL
        assert "8 rx / 8 tx queues" in str(info.value) and "\n" not in str(info.value)
    finally:
        probe.ring_wire_destroy("dhbad")


def test_run_rejects_the_main_lcore(ports, eal):
    main = next(lc["lcore_id"] for lc in eal.lcores() if lc["is_main"])
    with pytest.raises(ProbeError) as info:
        probe.Run(main, [probe.Task.sink(ports.rx)])
    assert info.value.errno == errno.EINVAL


def test_run_counters_are_read_while_running(ports, pool, worker):
    run = probe.Run(worker, [probe.Task.gen(ports.tx), probe.Task.sink(ports.rx)], pool=pool, flows=4)
    try:
        first = run.stats()
        assert first.running
        import time
        time.sleep(0.05)
        second = run.stats()
        assert second.tx_pkts > first.tx_pkts and second.loops > first.loops
        assert second.cpu_last == next(iter(pool_cpu(worker)))
    finally:
        final = run.stop()
    assert not final.running
    from harness import traffic
    traffic.drain(ports, worker)


def pool_cpu(worker):
    info = probe.ffi.new("struct probe_lcore_info *")
    probe.check(probe.lib.probe_lcore_info(worker, info), "lcore info")
    return {info.cpu_id}


def test_header_defines_are_the_compiled_probes(harness):
    """Pure code reads probe.h's #defines from the header's text (harness.native.defines); the compiled
    probe's lib has them from the cdef. Both must be one source: the same names and values."""
    from harness.native.defines import DEFINES

    assert {"PROBE_MAX_TASKS", "PROBE_MAX_QUEUES", "PROBE_AFF_CPU_WORDS", "PROBE_PERF_HIST_BUCKETS",
            "PROBE_FRAME_SRC_NET", "PROBE_FRAME_MAX_SIZE"} <= set(DEFINES)
    assert {name: getattr(probe.lib, name) for name in DEFINES} == DEFINES
    run_conf = probe.ffi.typeof("struct probe_run_conf")
    tasks = dict(run_conf.fields)["tasks"].type
    assert tasks.length == probe.lib.PROBE_MAX_TASKS == probe.MAX_TASKS
