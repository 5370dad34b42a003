"""Lcores of the audited application: one CPU each, alone on it, not preempted."""
import pytest

from harness.audit import model
from harness.system.procfs import cpus_text, format_cpus

pytestmark = pytest.mark.audit


def test_lcores_pinned_one_cpu_each(observed, measure):
    """Steps: list the application's threads (/proc/<pid>/task/*: comm, Cpus_allowed_list); its lcore
    threads are the main thread and the worker threads EAL names rte-worker-N (lcore-worker-N before
    22.11, dpdk-workerN from 23.11); read the launch line's lcore map from /eal/params.
    Verify: each lcore thread may run on exactly one CPU, the one --lcores maps it to."""
    for t in sorted(observed.threads, key=lambda t: t.lcore):
        measure(f"lcore{t.lcore}.cpus_allowed", len(t.cpus), unit="cpus", target=1, op="<=",
                cpus=format_cpus(t.cpus), thread=t.name, tid=t.tid, role=t.role)
    problems = model.pinning_problems(observed.app, observed.threads, observed.host_cpus)
    assert not problems, "\n".join(problems)


def test_no_two_lcores_share_a_cpu(observed, measure):
    """Steps: the lcore threads and their allowed CPUs, as above.
    Verify: no CPU is open to two lcore threads (two polling loops on one CPU take turns on it)."""
    cpus = [c for t in observed.threads for c in t.cpus]
    shared = sorted({c for c in cpus if cpus.count(c) > 1})
    measure("cpus_shared_by_lcores", len(shared), unit="cpus", target=0, op="<=", cpus=format_cpus(shared))
    problems = model.sharing_problems(observed.app, observed.threads, observed.host_cpus)
    assert not problems, "\n".join(problems)


def test_no_busy_neighbour_on_data_plane_cpus(observed, audit_cfg, measure):
    """Steps: the data-plane CPUs are those the worker lcores may run on; over the window, every
    SAMPLE_S read each thread of the host (/proc/*/task/*/stat: utime + stime, last CPU) and add the
    CPU time of threads outside the application to the data-plane CPU they ran on.
    Verify: no other thread used more than audit.max_neighbour_cpu_share of a data-plane CPU."""
    if not observed.dp_cpus:
        pytest.skip(f"{observed.app.label()} runs no worker lcore: no data-plane CPU to keep clear")
    top = observed.neighbours[0] if observed.neighbours else None
    measure("busiest_neighbour_cpu_share", top.cpu_share if top else 0.0, unit="ratio",
            target=audit_cfg.max_neighbour_cpu_share, op="<=", cpus=format_cpus(observed.dp_cpus),
            thread=top.text() if top else "none", seconds=f"{observed.seconds:.2f}")
    problems = model.neighbour_problems(observed.app, observed.neighbours, observed.dp_cpus,
                                        audit_cfg.max_neighbour_cpu_share)
    assert not problems, "\n".join(problems)


def test_worker_involuntary_context_switches(observed, audit_cfg, measure):
    """Steps: each worker lcore thread's nonvoluntary_ctxt_switches and CPU time
    (/proc/<pid>/task/<tid>/status, stat) at both ends of the window.
    Verify: no worker is preempted more often than audit.max_involuntary_ctx_switches_per_s; the share
    of the window each worker ran is reported beside it (a polling lcore runs ~100%)."""
    workers = [t for t in observed.threads if t.role == "worker"]
    if not workers:
        pytest.skip(f"{observed.app.label()} runs no worker lcore")
    for t in sorted(workers, key=lambda t: t.lcore):
        measure(f"lcore{t.lcore}.involuntary_ctx_switches_per_s", t.nonvoluntary_per_s, unit="1/s",
                target=audit_cfg.max_involuntary_ctx_switches_per_s, op="<=", count=t.nonvoluntary,
                cpus=cpus_text(t.cpus), seconds=f"{t.seconds:.2f}")
        measure(f"lcore{t.lcore}.cpu_share", t.cpu_share, unit="ratio", cpu_seconds=f"{t.cpu_s:.2f}")
    problems = model.ctx_switch_problems(observed.app, workers, audit_cfg.max_involuntary_ctx_switches_per_s)
    assert not problems, "\n".join(problems)
