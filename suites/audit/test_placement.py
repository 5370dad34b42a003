"""Where the audited application runs: NUMA locality, and the EAL options it was started with."""
import pytest

from harness.audit import model

pytestmark = pytest.mark.audit


def test_ports_and_lcores_on_one_numa_node(observed, measure):
    """Steps: each port's numa_node (/ethdev/info); the NUMA node of every worker lcore's CPUs
    (/sys/devices/system/node/node*/cpulist). DPDK 22.11 telemetry does not say which lcore polls which
    queue (/eal/lcore/info is 23.11+), so every worker is held to every port.
    Verify: each port's node is the node of the CPUs of the lcores polling it."""
    nodes = set(observed.cpu_node.values())
    if len(nodes) < 2:
        pytest.skip(f"this host has {len(nodes) or 1} NUMA node: ports and lcores cannot be on different nodes")
    for p in observed.ports:
        measure(f"port{p.port}.numa_node", p.numa_node, unit="node")
    problems = model.numa_problems(observed.app, observed.ports, observed.threads, observed.cpu_node)
    assert not problems, "\n".join(problems)


def test_eal_memory_in_hugepages(observed, audit_cfg, measure):
    """Steps: the EAL parameters (/eal/params: --lcores, --in-memory, --no-huge, -m); the hugetlb mappings
    of the process (/proc/<pid>/smaps, KernelPageSize above 4 kB).
    Verify: the application's memory is in hugepages (unless audit.require_hugepages = false); the
    lcore map and the memory options are reported."""
    eal = observed.app.eal
    huge = sum(observed.hugepage_kb.values())
    measure("hugepage_memory_mb", huge / 1024, unit="MB", target=1 if audit_cfg.require_hugepages else None,
            op=">=", lcores=eal.lcores_text(), in_memory=eal.in_memory, no_huge=eal.no_huge,
            memory=eal.memory or "default", pages=", ".join(f"{k}kB: {v // 1024} MB" for k, v in
                                                               sorted(observed.hugepage_kb.items())) or "none")
    problems = model.eal_problems(observed.app, observed.hugepage_kb, audit_cfg.require_hugepages)
    assert not problems, "\n".join(problems)
