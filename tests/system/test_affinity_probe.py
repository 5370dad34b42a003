"""The affinity part of the probe on real DPDK: lcore threads read from inside, spin loops, pool sockets."""
import errno
import threading
import time

import pytest

from harness import affinity, probe, traffic
from harness.capabilities import numa_nodes
from harness.errors import ProbeBusyError, ProbeInvalidError, ProbePermissionError
from harness.system import procfs


def _main(eal) -> int:
    return next(lc["lcore_id"] for lc in eal.lcores() if lc["is_main"])


def _cpus(profile, lcore) -> frozenset:
    return next(m.cpus for m in profile.eal.lcores if m.lcore == lcore)


def test_main_lcore_is_read_from_the_calling_thread(eal, profile):
    main = _main(eal)
    t = affinity.lcore_thread(main, sample_us=1000)
    assert t.is_main and t.seen_lcore == main
    assert t.tid == threading.get_native_id()
    assert t.cpus == t.outside_cpus == t.status_cpus == t.eal_cpus == t.eal_thread_cpus == _cpus(profile, main)
    assert t.cpu_now in t.cpus and t.samples > 1 and t.cpus_seen <= t.cpus


def test_worker_lcore_is_read_inside_its_own_thread(eal, worker, profile):
    t = affinity.lcore_thread(worker, sample_us=5000)
    assert not t.is_main and t.role == "rte" and t.seen_lcore == worker
    assert t.tid != threading.get_native_id() and t.name == f"rte-worker-{worker}"
    assert t.tid in {x.tid for x in procfs.process_threads()}
    assert t.cpus == t.outside_cpus == t.status_cpus == t.eal_cpus == t.eal_thread_cpus == _cpus(profile, worker)
    assert t.cpus_seen == t.cpus and t.migrations == 0 and t.samples > 100
    assert t.socket == t.lcore_socket >= 0
    # the same thread every time: EAL's worker threads live as long as EAL
    assert affinity.lcore_thread(worker).tid == t.tid


def test_busy_worker_cannot_be_read(ports, pool, worker):
    run = probe.Run(worker, [probe.Task.sink(ports.rx)])
    try:
        with pytest.raises(ProbeBusyError) as info:
            affinity.lcore_thread(worker)
        assert info.value.errno == errno.EBUSY
    finally:
        run.stop()


def test_main_lcore_from_another_thread_is_refused(eal):
    main, box = _main(eal), {}

    def other():
        try:
            affinity.lcore_thread(main)
        except Exception as exc:  # noqa: BLE001 - handed back to the test thread
            box["exc"] = exc

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert isinstance(box.get("exc"), ProbePermissionError), box


def test_bad_arguments_are_einval(eal, worker):
    for lcore, sample in ((1023, 0), (worker, 2_000_000)):
        with pytest.raises(ProbeInvalidError):
            affinity.lcore_thread(lcore, sample_us=sample)
    with pytest.raises(ProbeInvalidError):
        affinity.Spin(_main(eal))


def test_spin_loop_keeps_the_worker_busy_on_its_cpu(worker, profile):
    tid = affinity.lcore_thread(worker).tid
    before = procfs.read_thread(tid)
    spin = affinity.Spin(worker)
    try:
        first = spin.stats()
        time.sleep(0.1)
        second = spin.stats()
        assert first.running and second.loops > first.loops and second.elapsed_s > first.elapsed_s
        assert second.tid == tid and second.cpus_seen == _cpus(profile, worker)
        with pytest.raises(ProbeBusyError):
            affinity.Spin(worker)
    finally:
        final = spin.stop()
    assert not final.running and final.loops >= second.loops and spin.stop() is final
    after = procfs.read_thread(tid)
    assert after.cpu_ticks > before.cpu_ticks  # it really ran on the CPU (ticks: coarse, and shared hosts)
    # the lcore is free again
    assert affinity.lcore_thread(worker).tid == tid


def test_session_teardown_stops_a_forgotten_spin(worker):
    spin = affinity.Spin(worker)
    assert spin in probe.runs._ACTIVE_RUNS
    probe.stop_all_runs()
    assert not spin.stats().running and spin not in probe.runs._ACTIVE_RUNS


def test_pool_memory_sockets(pool):
    sockets, unknown = affinity.pool_mem_sockets(pool)
    assert unknown == 0 and sockets and max(sockets) < numa_nodes()
    if pool.stats().socket_id >= 0:
        assert sockets == {pool.stats().socket_id}


def test_observe_under_load(eal, ports, pool, worker, profile):
    threads = affinity.lcore_threads([lc["lcore_id"] for lc in eal.lcores()])
    tasks = [probe.Task.gen(ports.tx)] + traffic.sink_tasks(ports)
    try:
        sample = affinity.observe_under_load(threads, worker, tasks, 0.2, pool=pool)
    finally:
        traffic.drain(ports, worker)
    assert sample.traffic_lcore == worker and sample.run_stats.rx_pkts > 0 and not sample.run_stats.running
    by_lcore = {w.lcore: w for w in sample.workers}
    assert set(by_lcore) == {t.lcore for t in threads.values() if not t.is_main}
    w = by_lcore[worker]
    assert w.load == "traffic" and w.seconds >= 0.2 and w.outside_samples >= 5
    assert w.cpus_seen_inside == w.cpus_seen_outside == _cpus(profile, worker)
    assert w.nonvoluntary >= 0 and 0 < w.cpu_share <= 1.0  # the share depends on what else runs on the host
    assert {t.tid for t in threads.values()}.isdisjoint(t.tid for t in sample.others)
    assert {"eal-intr-thread"} <= {t.name for t in sample.others}
