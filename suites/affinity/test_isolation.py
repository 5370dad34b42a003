"""Isolation: what else may run on the data-plane CPUs. Reported with advice, never a failure: a VM or a
CI runner usually has no isolated CPUs, and that is the host, not the deployment under test."""
import os

from harness import affinity
from harness.system import inventory, procfs


def test_isolation_reported(worker_threads, measure):
    """Steps: list the other processes allowed on the worker lcores' CPUs (/proc/<pid>/status
    Cpus_allowed_list; user processes, those that last ran there, kernel threads); read isolcpus,
    nohz_full and rcu_nocbs from the kernel command line.
    Verify: the worker CPUs are online CPUs of this host; which of them the kernel isolates, and what to
    add to the command line, is reported as advice (a VM without isolation is not a failure)."""
    worker_cpus = frozenset().union(*(t.cpus for t in worker_threads))
    sys_root = os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys")
    procs = procfs.processes_on(worker_cpus, exclude=[os.getpid()])
    measure("processes_on_worker_cpus", len(procs.user), unit="processes", cpus=procfs.format_cpus(worker_cpus),
            last_ran_there=len(procs.ran_there), kernel_threads=len(procs.kernel), of=procs.total,
            summary=procs.summary())
    online = inventory.online_cpus(sys_root)
    assert worker_cpus and worker_cpus <= online, (
        f"worker lcores run on CPUs {procfs.format_cpus(worker_cpus)}, but the online CPUs are "
        f"{procfs.format_cpus(online)}: fix eal.lcores")
    state = affinity.isolation_state(inventory.host_inventory(sys_root=sys_root), worker_cpus,
                                     last_cpu=max(online) if online else None)
    measure("isolated_worker_cpus", len(state.isolated), unit="cpus", of=len(worker_cpus),
            advice=" | ".join(state.advice) or "none", **{k: (v or "not set") for k, v in state.raw.items()})
