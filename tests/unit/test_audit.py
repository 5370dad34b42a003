"""Audit of a running application, without DPDK or root: the launch-line reader, every verdict on made-up
observations (each failing with its fix, passing when sound), the [audit] profile section, and the telemetry
client against a fake SOCK_SEQPACKET server."""
import json
import socket
import threading

import pytest

from harness.audit import model
from harness.errors import ProfileError
from harness.profile import parse_profile
from harness.system import procfs, telemetry

TESTPMD = ("dpdk-testpmd", "--lcores", "0@0,1@1", "--file-prefix", "p", "--in-memory", "-m", "64")


def app(args=TESTPMD, name="dpdk-testpmd"):
    return model.App(pid=42, name=name, cmdline=" ".join(args), dpdk_version="DPDK 22.11.11", socket="/x",
                     eal=model.parse_eal_params(args))


def thread(lcore, cpus, role="worker", nonvol=0, cpu_s=1.0, seconds=1.0):
    return model.LcoreThread(lcore=lcore, tid=100 + lcore, name=f"rte-worker-{lcore}" if role == "worker" else "main",
                             role=role, cpus=frozenset(cpus), nonvoluntary=nonvol, voluntary=0, cpu_s=cpu_s,
                             seconds=seconds)


# ------------------------------------------------------------------ launch line


@pytest.mark.parametrize("args, lcores, main", [
    (("a", "--lcores", "0@0,1@(0-1)"), {0: {0}, 1: {0, 1}}, 0),
    (("a", "--lcores=1@2,3@3", "--main-lcore", "3"), {1: {2}, 3: {3}}, 3),
    (("a", "-l", "0-2"), {0: {0}, 1: {1}, 2: {2}}, 0),
    (("a", "-c", "0x6"), {1: {1}, 2: {2}}, 1),
    (("a", "--lcores", "garbage@@"), {}, None),
])
def test_eal_params_lcore_map(args, lcores, main):
    p = model.parse_eal_params(args)
    assert {k: set(v) for k, v in p.lcores.items()} == lcores
    assert p.main_lcore == main


def test_eal_params_memory_options():
    p = model.parse_eal_params(("a", "--no-huge", "--no-shconf", "-m", "128", "--file-prefix=x"))
    assert p.no_huge and p.no_shconf and not p.in_memory and p.memory == "128" and p.file_prefix == "x"
    assert model.parse_eal_params(("a",)).file_prefix == "rte"


@pytest.mark.parametrize("name, lcore", [("rte-worker-3", 3), ("lcore-worker-1", 1), ("dpdk-worker12", 12),
                                         ("eal-intr-thread", None), ("telemetry-v2", None), ("rte-worker-x", None)])
def test_worker_thread_names(name, lcore):
    assert procfs.worker_lcore_of(name) == lcore


# ------------------------------------------------------------------ lcores


def test_pinning_passes_one_cpu_each_and_fails_two_cpus_with_the_fix():
    a = app()
    assert model.pinning_problems(a, [thread(0, {0}, "main"), thread(1, {1})], {0, 1}) == []
    (msg,) = model.pinning_problems(app(("t", "--lcores", "0@0,1@(0,1)")), [thread(0, {0}, "main"),
                                                                            thread(1, {0, 1})], {0, 1})
    assert "lcore 1 (worker" in msg and "may run on CPUs 0,1" in msg and "--lcores 0@0,1@1" in msg


def test_pinning_names_a_thread_repinned_after_start():
    (msg,) = model.pinning_problems(app(), [thread(0, {0}, "main"), thread(1, {0})], {0, 1})
    assert "pinned to CPU 0 but the launch line maps it to CPU 1" in msg


def test_sharing_fails_two_forwarding_lcores_on_one_cpu():
    threads = [thread(0, {0}, "main"), thread(1, {1}), thread(2, {1})]
    (msg,) = model.sharing_problems(app(), threads, {0, 1})
    assert "forwarding lcore 1" in msg and "lcore 2" in msg and "share CPU 1" in msg
    assert "run fewer lcores" in msg  # 3 lcores on 2 CPUs
    assert model.sharing_problems(app(), threads[:2], {0, 1}) == []


def test_ctx_switches_judged_per_worker_only():
    threads = [thread(0, {0}, "main", nonvol=10_000), thread(1, {1}, nonvol=500, seconds=0.5)]
    (msg,) = model.ctx_switch_problems(app(), threads, 100)
    assert "lcore 1" in msg and "1,000/s" in msg and "audit.max_involuntary_ctx_switches_per_s" in msg
    assert model.ctx_switch_problems(app(), threads, 2000) == []


def test_neighbour_over_the_share_is_named():
    n = [model.Neighbour(pid=7, tid=8, name="spin", process="python -c spin", cpu_share=0.4, cpus=frozenset({1})),
         model.Neighbour(pid=9, tid=9, name="quiet", process="sshd", cpu_share=0.01, cpus=frozenset({1}))]
    (msg,) = model.neighbour_problems(app(), n, frozenset({1}), 0.1)
    assert "'spin' (tid 8, pid 7" in msg and "40% of CPU 1" in msg and "quiet" not in msg
    assert model.neighbour_problems(app(), n, frozenset({1}), 0.5) == []


def test_data_plane_cpus_are_the_workers():
    assert model.data_plane_cpus([thread(0, {0}, "main"), thread(1, {1}), thread(2, {2, 3})]) == {1, 2, 3}


# ------------------------------------------------------------------ ports


LIMITS = {k: 0.0 for k in model.RATE_COUNTERS.values()}


def port(**deltas):
    q = deltas.pop("q", (0,))
    return model.PortWindow(port=0, name="net_tap0", seconds=2.0, deltas=deltas, q_ipackets=tuple(q),
                            nb_rx_queues=len(q), xstats={"rx_mbuf_allocation_errors": deltas.get("rx_nombuf", 0)})


def test_rx_nombuf_rate_names_the_pool_fix_for_testpmd_and_others():
    (msg,) = model.rate_problems(app(), [port(rx_nombuf=500)], LIMITS)
    assert "rx_nombuf rose by 500 in 2.00 s (250.0/s)" in msg and "--total-num-mbufs" in msg
    assert "rx_mbuf_allocation_errors +500" in msg
    (msg,) = model.rate_problems(app(("myapp",), name="myapp"), [port(rx_nombuf=500)], LIMITS)
    assert "rte_pktmbuf_pool_create" in msg and "--total-num-mbufs" not in msg
    assert model.rate_problems(app(), [port(rx_nombuf=500)], {**LIMITS, "max_rx_nombuf_per_s": 300}) == []


@pytest.mark.parametrize("counter", ["imissed", "ierrors", "oerrors"])
def test_each_error_counter_is_judged(counter):
    (msg,) = model.rate_problems(app(), [port(**{counter: 10})], LIMITS)
    assert f": {counter} rose by 10" in msg


def test_spread_all_on_one_queue_fails_with_the_rss_fix():
    p = port(q=(0, 0, 40_000, 0))
    sp = model.spread_of(p, 256)
    (msg,) = model.spread_problems(app(), p, sp, min_p_value=0.01, max_ratio=1.5)
    assert "all of it on queue 2 of 4" in msg and "--rss-ip" in msg and "256 flows assumed" in msg


def test_spread_even_passes_and_few_flows_are_noted():
    p = port(q=(10_000, 10_100, 9_900, 10_050))
    assert model.spread_problems(app(), p, model.spread_of(p, 256), min_p_value=0.01, max_ratio=1.5) == []
    assert model.few_flows_note(8, 4) and model.few_flows_note(256, 4) is None


# ------------------------------------------------------------------ pools, NUMA, EAL


def test_pool_caches_holding_most_of_the_pool_fail():
    pools = [model.PoolInfo("mb_pool_0", size=1200, cache_size=250)]
    (msg,) = model.pool_problems(app(), pools, 2, 0.5)
    assert "caches can hold 750 of its 1200" in msg and "--mbcache" in msg
    assert model.pool_problems(app(), [model.PoolInfo("p", 8191, 250)], 2, 0.5) == []
    (msg,) = model.pool_problems(app(), [model.PoolInfo("p", 8191, 600)], 2, 0.5)
    assert "RTE_MEMPOOL_CACHE_MAX_SIZE" in msg


def test_numa_far_lcore_is_named():
    p = model.PortWindow(port=0, name="0000:81:00.0", seconds=1, deltas={}, numa_node=1)
    cpu_node = {0: 0, 1: 0, 2: 1, 3: 1}
    (msg,) = model.numa_problems(app(), [p], [thread(0, {0}, "main"), thread(1, {1})], cpu_node)
    assert "NUMA node 1" in msg and "lcore 1" in msg and "CPUs 2,3" in msg
    assert model.numa_problems(app(), [p], [thread(0, {0}, "main"), thread(1, {2})], cpu_node) == []


def test_memory_outside_hugepages_fails_unless_allowed():
    no_huge = app(("dpdk-testpmd", "--no-huge", "-m", "64"))
    (msg,) = model.eal_problems(no_huge, {}, True)
    assert "--no-huge" in msg
    assert model.eal_problems(no_huge, {}, False) == []
    assert model.eal_problems(app(), {2048: 65536}, True) == []


# ------------------------------------------------------------------ profile


def test_audit_section_defaults_and_errors():
    assert parse_profile({}).audit.window_s == 5.0
    assert parse_profile({"audit": {"window_s": 2, "flows": 64}}).audit.flows == 64
    with pytest.raises(ProfileError, match="audit.window_s: 0 is out of range"):
        parse_profile({"audit": {"window_s": 0}})
    with pytest.raises(ProfileError, match="audit.windw_s: unknown key; did you mean 'window_s'"):
        parse_profile({"audit": {"windw_s": 2}})


# ------------------------------------------------------------------ telemetry client


@pytest.fixture
def fake_app(tmp_path):
    """A SOCK_SEQPACKET server speaking telemetry v2, as DPDK's telemetry thread does."""
    path = tmp_path / "dpdk_telemetry.v2"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(str(path))
    srv.listen(1)
    replies = {"/": ["/", "/ethdev/list", "/ethdev/stats"], "/ethdev/list": [0],
               "/ethdev/stats,0": {"ipackets": 5, "rx_nombuf": 1}}

    def serve():
        conn, _ = srv.accept()
        conn.send(json.dumps({"version": "DPDK 22.11.11", "pid": 1234, "max_output_len": 16384}).encode())
        while data := conn.recv(1024):
            cmd = data.decode()
            conn.send(json.dumps({cmd.split(",")[0]: replies.get(cmd)}).encode())
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield path
    srv.close()


def test_telemetry_client_reads_greeting_and_replies(fake_app):
    with telemetry.Telemetry(fake_app) as tel:
        assert tel.pid == 1234 and tel.version == "DPDK 22.11.11"
        assert tel.has("/ethdev/stats") and not tel.has("/ethdev/rx_queue")
        assert tel.query("/ethdev/list") == [0]
        assert tel.query("/ethdev/stats", 0)["rx_nombuf"] == 1
        assert tel.query("/eal/params") is None
    assert telemetry.version_tuple("DPDK 23.11.0-rc1") == (23, 11)


def test_telemetry_client_error_names_the_socket(tmp_path):
    with pytest.raises(telemetry.TelemetryError, match="cannot talk to the DPDK telemetry socket .*nothing"):
        telemetry.Telemetry(tmp_path / "nothing")


def test_sockets_in_a_runtime_dir_and_their_variants(tmp_path):
    d = tmp_path / "pfx"
    d.mkdir()
    for n in ("dpdk_telemetry.v2", "dpdk_telemetry.v2:1", "telemetry", "config"):
        (d / n).write_text("")
    assert [p.name for p in telemetry.sockets_in("pfx", str(tmp_path))] == ["dpdk_telemetry.v2", "dpdk_telemetry.v2:1"]


def test_a_pid_maps_to_its_listening_socket(tmp_path):
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "unix").write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000: 00000002 00000000 00010000 0005 01 23677 /var/run/dpdk/a/dpdk_telemetry.v2\n"
        "0000: 00000002 00000000 00010000 0005 01 23999 /var/run/dpdk/b/dpdk_telemetry.v2\n"
        "0000: 00000002 00000000 00000000 0005 01 24000 /var/run/dpdk/c/dpdk_telemetry.v2\n")
    fd = proc / "77" / "fd"
    fd.mkdir(parents=True)
    (fd / "12").symlink_to("socket:[23999]")
    (fd / "13").symlink_to("socket:[24000]")  # connected, not listening
    assert telemetry.sockets_of(77, str(proc)) == ["/var/run/dpdk/b/dpdk_telemetry.v2"]
    assert telemetry.sockets_of(78, str(proc)) == []


def test_the_testpmd_launcher_refuses_a_pci_allowlist_before_starting_anything():
    from harness.errors import HarnessError
    from harness.system import testpmd

    if testpmd.testpmd_path() is None:
        pytest.skip("dpdk-testpmd is not installed")
    for args in (["-a", "0000:00:03.0"], ["--allow=0000:00:03.0"], ["-a0000:00:03.0"]):
        with pytest.raises(HarnessError, match="never lets EAL near PCI devices"):
            testpmd.Testpmd(lcores="0@0", vdevs=[], eal_args=args)
