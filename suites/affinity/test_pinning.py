"""Core pinning: every data-plane lcore runs alone on the CPU the deployment gave it."""
from harness import affinity
from harness.system import procfs


def test_lcores_pinned_one_cpu_each(lcore_threads, profile, host_cpus, measure):
    """Steps: read each EAL lcore's thread (main, workers, service lcores) from inside it
    (pthread_getaffinity_np, sched_getcpu, rte_lcore_id, rte_thread_get_affinity; launched on the lcore
    with rte_eal_remote_launch, the main lcore from the EAL main thread) and from outside
    (sched_getaffinity on its tid, /proc/self/task/<tid>/status Cpus_allowed_list).
    Verify: each thread may run on exactly one CPU, the one eal.lcores maps it to; every reading agrees;
    no two lcores may run on the same CPU."""
    for t in sorted(lcore_threads.values(), key=lambda t: t.lcore):
        measure(f"lcore{t.lcore}.cpus_allowed", len(t.cpus), unit="cpus", target=1, op="<=",
                cpus=procfs.format_cpus(t.cpus), thread=t.name, tid=t.tid)
    problems = (affinity.pinning_problems(profile.eal.lcores, lcore_threads, host_cpus)
                + affinity.sharing_problems(lcore_threads, host_cpus))
    assert not problems, "\n".join(problems)


def test_workers_run_only_on_their_cpu(load_sample, measure):
    """Steps: load every worker lcore at once for measure.duration_s (traffic on the harness's worker,
    a spin loop on the others); sample where each runs from inside its loop (sched_getcpu) and from
    outside (/proc/self/task/<tid>/stat, every 10 ms).
    Verify: each worker was only ever seen on the CPU it is pinned to."""
    for w in load_sample.workers:
        seen = w.cpus_seen_inside | w.cpus_seen_outside
        measure(f"lcore{w.lcore}.cpus_seen", len(seen), unit="cpus", target=1, op="<=",
                cpus=procfs.format_cpus(seen), load=w.load)
    problems = affinity.observed_cpu_problems(load_sample.workers)
    assert not problems, "\n".join(problems)


def test_worker_involuntary_context_switches(load_sample, profile, measure):
    """Steps: read each worker thread's nonvoluntary_ctxt_switches (/proc/self/task/<tid>/status) before
    and after the loaded window of measure.duration_s.
    Verify: no busy worker is preempted more often than eal.max_involuntary_ctx_switches_per_s (default
    1000/s: heavy interference only; isolated production cores see 0-1/s). The share of the window each
    worker ran (utime + stime) is reported beside it."""
    limit = affinity.max_ctx_switches_per_s(profile)
    for w in load_sample.workers:
        measure(f"lcore{w.lcore}.involuntary_ctx_switches_per_s", w.nonvoluntary_per_s, unit="1/s", target=limit,
                op="<=", count=w.nonvoluntary, seconds=f"{w.seconds:.3f}", voluntary=w.voluntary, load=w.load)
        measure(f"lcore{w.lcore}.cpu_share", w.cpu_share, unit="ratio", cpu_seconds=f"{w.cpu_seconds:.3f}")
    problems = affinity.ctx_switch_problems(load_sample.workers, limit)
    assert not problems, "\n".join(problems)


def test_no_other_thread_of_the_process_on_worker_cpus(load_sample, worker_threads, measure):
    """Steps: list every thread of this process (/proc/self/task/*: comm, Cpus_allowed_list) that is not an
    lcore's thread: Python's, EAL's control threads (eal-intr-thread, rte_mp_handle, telemetry-v2), others.
    Verify: none may run on a worker lcore's CPU (DPDK keeps its own control threads off lcore CPUs)."""
    worker_cpus = frozenset().union(*(t.cpus for t in worker_threads))
    others = load_sample.others
    on_workers = affinity.threads_on(worker_cpus, others)
    measure("other_threads", len(others), unit="threads",
            threads="; ".join(f"{t.name}[{t.tid}] {procfs.cpus_text(t.cpus_allowed)}" for t in others))
    measure("other_threads_on_worker_cpus", len(on_workers), unit="threads", target=0, op="<=",
            threads="; ".join(f"{t.name}[{t.tid}]" for t in on_workers))
    problems = [
        f"thread {t.name!r} (tid {t.tid}) of this process may run on {procfs.cpus_text(t.cpus_allowed)}, which "
        f"includes worker {procfs.cpus_text(t.cpus_allowed & worker_cpus)}; expected only the lcores' own "
        "threads there; start such threads after rte_eal_init (they inherit the main lcore's CPU) or pin them off "
        "the worker CPUs (os.sched_setaffinity / pthread_setaffinity_np)"
        for t in on_workers]
    assert not problems, "\n".join(problems)
