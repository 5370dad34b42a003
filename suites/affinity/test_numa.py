"""NUMA placement: each port, the lcore polling it and the pool feeding it sit on one socket."""
import pytest

from harness import affinity
from harness.system import procfs


@pytest.mark.requires("numa")
def test_ports_lcores_and_pool_on_one_socket(ports, pool, worker, lcore_threads, measure):
    """Steps: read each port's socket (rte_eth_dev_socket_id), the socket of the lcore that polls it (the
    harness's worker, rte_lcore_to_socket_id and rte_socket_id inside its thread) and the sockets of the
    memory behind the pool (rte_mem_virt2memseg over its chunks).
    Verify: for each port all three are the same socket."""
    t = lcore_threads[worker]
    pool_sockets, unknown_chunks = affinity.pool_mem_sockets(pool)
    infos = [p.info() for p in ports.ports]
    for info in infos:
        measure(f"{info['name']}.socket", info["socket_id"], unit="socket")
    measure(f"lcore{worker}.socket", t.lcore_socket, unit="socket", inside=t.socket)
    measure("pool.memory_sockets", len(pool_sockets), unit="sockets", sockets=procfs.format_cpus(pool_sockets),
            declared=pool.stats().socket_id, unknown_chunks=unknown_chunks)
    problems, unknowns = affinity.numa_problems([(i["name"], i["socket_id"]) for i in infos], {worker: t.lcore_socket},
                                                pool.name, pool_sockets)
    if t.socket != t.lcore_socket:
        problems.append(f"lcore {worker}: EAL's config puts it on socket {t.lcore_socket} but its thread reports "
                        f"rte_socket_id() {t.socket}; check eal.lcores")
    assert not problems, "\n".join(problems)
    if unknowns:
        pytest.skip("; ".join(unknowns) + ": placement cannot be judged")
