"""harness.affinity without DPDK: /proc readers on fake trees, and every verdict on fabricated observations."""
from __future__ import annotations

import dataclasses
import os
import threading
from types import SimpleNamespace

import pytest

from harness import affinity as A
from harness.probe import RunStats
from harness.profile import EalConfig, LcoreMap, parse_lcores
from harness.system import procfs

# ---------------------------------------------------------------- fake /proc


def _stat(pid: int, comm: str, *, state="S", flags=0, utime=0, stime=0, cpu=0) -> str:
    f = ["0"] * 53  # index = field number (1-based); fields 1 and 2 are written separately
    f[3], f[9], f[14], f[15], f[39] = state, str(flags), str(utime), str(stime), str(cpu)
    return f"{pid} ({comm}) " + " ".join(f[3:53]) + "\n"


def _status(pid: int, name: str, cpus: str, vol=0, nonvol=0, state="S (sleeping)") -> str:
    return (f"Name:\t{name}\nUmask:\t0022\nState:\t{state}\nTgid:\t{pid}\nPid:\t{pid}\n"
            f"Cpus_allowed:\tff\nCpus_allowed_list:\t{cpus}\nvoluntary_ctxt_switches:\t{vol}\n"
            f"nonvoluntary_ctxt_switches:\t{nonvol}\n")


def _task(d, tid, name, cpus, *, vol=0, nonvol=0, cpu=0, flags=0, utime=0, stime=0):
    d.mkdir(parents=True, exist_ok=True)
    (d / "status").write_text(_status(tid, name, cpus, vol, nonvol))
    (d / "stat").write_text(_stat(tid, name, flags=flags, utime=utime, stime=stime, cpu=cpu))
    return d


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    return root


# ---------------------------------------------------------------- CPU lists


@pytest.mark.parametrize("text,cpus", [
    ("0-3,6", {0, 1, 2, 3, 6}), ("1", {1}), ("", set()), (" 2 , 4-5 ", {2, 4, 5}),
    ("0-7:2/4", {0, 1, 4, 5}), ("1-N", {1, 2, 3}),
])
def test_parse_cpu_list(text, cpus):
    assert procfs.parse_cpu_list(text, last_cpu=3) == cpus


@pytest.mark.parametrize("text", ["a", "3-1", "1-N", "0-3:0/2"])
def test_parse_cpu_list_rejects(text):
    with pytest.raises(ValueError):
        procfs.parse_cpu_list(text)


def test_format_cpus():
    assert procfs.format_cpus({0, 1, 2, 5}) == "0-2,5"
    assert procfs.format_cpus({0, 1}) == "0,1"
    assert procfs.format_cpus({7, 3}) == "3,7"
    assert procfs.format_cpus(set()) == "none"
    assert procfs.cpus_text({1}) == "CPU 1" and procfs.cpus_text({0, 1}) == "CPUs 0,1"


def test_mask_to_cpus():
    words = [0] * A.CPU_WORDS
    words[0], words[1], words[15] = 0b101, 1, 1 << 63
    assert procfs.mask_to_cpus(words) == {0, 2, 64, 1023}


# ---------------------------------------------------------------- /proc readers


def test_read_task_fake_tree(proc):
    d = _task(proc / "self/task/42", 42, "rte-worker-1", "1", vol=3, nonvol=7, cpu=1, utime=10, stime=2)
    t = procfs.read_task(d, 42)
    assert (t.tid, t.name, t.cpus_allowed, t.voluntary, t.nonvoluntary) == (42, "rte-worker-1", {1}, 3, 7)
    assert t.last_cpu == 1 and t.cpu_ticks == 12 and not t.kernel_thread and t.state == "S"
    assert procfs.read_thread(42, proc_root=str(proc)) == t


def test_read_task_comm_with_spaces_and_parens(proc):
    d = _task(proc / "7", 7, "a (b) c", "0-1", cpu=1, flags=procfs.PF_KTHREAD)
    t = procfs.read_task(d)
    assert t.tid == 7 and t.last_cpu == 1 and t.kernel_thread


def test_read_task_errors(proc):
    with pytest.raises(OSError):
        procfs.read_task(proc / "999")
    d = proc / "5"
    d.mkdir()
    (d / "status").write_text("Name:\tx\n")
    with pytest.raises(ValueError, match="Cpus_allowed_list"):
        procfs.read_task(d)


def test_process_threads_skips_vanished_and_garbled(proc):
    _task(proc / "self/task/10", 10, "python", "0")
    _task(proc / "self/task/11", 11, "eal-intr-thread", "0")
    (proc / "self/task/12").mkdir()                     # exited while listed
    (proc / "self/task/13").mkdir()
    (proc / "self/task/13/status").write_text("junk")   # unreadable
    assert [t.name for t in procfs.process_threads(proc_root=str(proc))] == ["python", "eal-intr-thread"]


def test_real_thread_of_this_process():
    t = procfs.read_thread(threading.get_native_id())
    assert t.cpus_allowed == frozenset(os.sched_getaffinity(0))
    assert t.last_cpu in t.cpus_allowed and t.state == "R"


def test_processes_on(proc):
    _task(proc / "1", 1, "init", "0-1", cpu=1)
    _task(proc / "2", 2, "pinned0", "0", cpu=0)
    _task(proc / "3", 3, "ksoftirqd/1", "1", cpu=1, flags=procfs.PF_KTHREAD)
    _task(proc / "4", 4, "me", "0-1", cpu=1)
    _task(proc / "5", 5, "sleepy", "0-1", cpu=0)
    (proc / "self").mkdir()
    got = procfs.processes_on({1}, proc_root=str(proc), exclude=[4])
    assert [p.name for p in got.user] == ["init", "sleepy"]
    assert [p.name for p in got.kernel] == ["ksoftirqd/1"]
    assert [p.name for p in got.ran_there] == ["init"]
    assert got.total == 4
    assert got.summary().startswith("2 user processes (of 4 processes) may run on CPU 1: init, sleepy; "
                                    "1 last ran there (init[1]@1); 1 kernel threads allowed there")


def test_threads_on():
    ts = [procfs.TaskInfo(1, "a", frozenset({0}), 0, 0), procfs.TaskInfo(2, "b", frozenset({0, 1}), 0, 0)]
    assert [t.name for t in A.threads_on({1}, ts)] == ["b"]


# ---------------------------------------------------------------- pinning verdicts


def _thread(lcore, cpus, *, tid=None, name=None, main=False, **kw) -> A.LcoreThread:
    cpus = frozenset(cpus)
    base = dict(lcore=lcore, is_main=main, role="rte", tid=tid or 100 + lcore,
                name=name or ("python" if main else f"rte-worker-{lcore}"), seen_lcore=lcore, cpu_now=min(cpus),
                cpus=cpus, eal_cpus=cpus, eal_thread_cpus=cpus, outside_cpus=cpus, status_cpus=cpus)
    base.update(kw)
    return A.LcoreThread(**base)


def _threads(spec: str) -> tuple[tuple[LcoreMap, ...], dict[int, A.LcoreThread]]:
    maps = parse_lcores(spec)
    return maps, {m.lcore: _thread(m.lcore, m.cpus, main=m.lcore == 0) for m in maps}


def test_sound_map_has_no_problems():
    maps, ts = _threads("0@0,1@1")
    assert A.pinning_problems(maps, ts, {0, 1}) == [] and A.sharing_problems(ts, {0, 1}) == []


def test_worker_on_two_cpus():
    maps, ts = _threads("0@0,1@(0,1)")
    pin = A.pinning_problems(maps, ts, {0, 1})
    assert pin == ["lcore 1 (thread 'rte-worker-1', tid 101): may run on CPUs 0,1 (2 CPUs); expected exactly one "
                   "CPU (profile maps it to CPUs 0,1); give each lcore a CPU of its own, e.g. "
                   'eal.lcores = "0@0,1@1"']
    share = A.sharing_problems(ts, {0, 1})
    assert share == ["main lcore 0 (thread 'python', tid 100) and lcore 1 (thread 'rte-worker-1', tid 101) share "
                     "CPU 0 (one may run on CPU 0, the other on CPUs 0,1); expected each lcore alone on its own "
                     'CPU; give each lcore a CPU of its own, e.g. eal.lcores = "0@0,1@1"']


def test_two_workers_on_one_cpu_all_lcores_looked_at():
    maps, ts = _threads("0@0,1@1,2@1")
    assert A.pinning_problems(maps, ts, {0, 1}) == []
    share = A.sharing_problems(ts, {0, 1})
    assert len(share) == 1
    assert share[0].startswith("lcore 1 (thread 'rte-worker-1', tid 101) and lcore 2 (thread 'rte-worker-2', "
                               "tid 102) are both pinned to CPU 1; expected each lcore alone on its own CPU; "
                               "this host has 2 CPUs for 3 lcores: use fewer lcores, one per CPU, e.g. "
                               'eal.lcores = "0@0,1@1"')


def test_thread_pinned_elsewhere_than_the_profile_says():
    maps, ts = _threads("0@0,1@1")
    ts[1] = _thread(1, {3})
    (msg,) = A.pinning_problems(maps, ts)
    assert msg.startswith("lcore 1 (thread 'rte-worker-1', tid 101): pinned to CPU 3, expected CPU 1")


def test_readings_that_disagree_are_named():
    maps, ts = _threads("0@0,1@1")
    ts[1] = dataclasses.replace(ts[1], outside_cpus=frozenset({0, 1}), status_cpus=frozenset({0, 1}))
    (msg,) = A.pinning_problems(maps, ts)
    assert "the readings of its CPU affinity disagree (pthread_getaffinity_np in the thread: 1; " \
           "sched_getaffinity(tid) from outside: 0,1; /proc/self/task/101/status: 0,1" in msg
    assert "re-pinned the thread" in msg


def test_unreadable_outside_views_are_left_out():
    maps, ts = _threads("0@0,1@1")
    ts[1] = dataclasses.replace(ts[1], outside_cpus=None, status_cpus=None)
    assert A.pinning_problems(maps, ts) == []


def test_missing_lcore_and_wrong_lcore_id():
    maps, ts = _threads("0@0,1@1")
    del ts[1]
    assert A.pinning_problems(maps, ts)[0].startswith("lcore 1: the profile maps it to CPU 1 but EAL runs no such")
    maps, ts = _threads("0@0,1@1")
    ts[1] = dataclasses.replace(ts[1], seen_lcore=5)
    assert "reports rte_lcore_id() 5" in A.pinning_problems(maps, ts)[0]


def test_service_lcore_outside_the_profile_must_be_pinned_too():
    maps, ts = _threads("0@0,1@1")
    ts[2] = _thread(2, {0, 1}, role="service", name="rte-worker-2")
    (msg,) = A.pinning_problems(maps, ts)
    assert msg.startswith("service lcore 2 (thread 'rte-worker-2', tid 102): not in eal.lcores and may run on CPUs 0,1")


def test_suggest_lcores():
    assert A.suggest_lcores([0, 1, 2], {0, 1, 2, 3}) == 'give each lcore a CPU of its own, e.g. eal.lcores = "0@0,1@1,2@2"'
    assert "1 CPU for 2 lcores" in A.suggest_lcores([0, 1], {5}) and '"0@5"' in A.suggest_lcores([0, 1], {5})
    assert A.suggest_lcores([0, 1], set()) == "give each lcore a CPU of its own in eal.lcores"


# ---------------------------------------------------------------- load verdicts


def _load(lcore=1, cpus=(1,), inside=(1,), outside=(1,), nonvol=2, seconds=0.5, cpu_s=0.5) -> A.WorkerLoad:
    return A.WorkerLoad(lcore=lcore, tid=101, label=f"lcore {lcore} (thread 'rte-worker-{lcore}', tid 101)",
                        expected_cpus=frozenset(cpus), load="traffic", seconds=seconds, nonvoluntary=nonvol,
                        voluntary=0, cpus_seen_inside=frozenset(inside), cpus_seen_outside=frozenset(outside),
                        outside_samples=50, cpu_seconds=cpu_s)


def test_observed_cpu_problems():
    assert A.observed_cpu_problems([_load()]) == []
    (inside,) = A.observed_cpu_problems([_load(inside=(0, 1))])
    assert inside.startswith("lcore 1 (thread 'rte-worker-1', tid 101): seen running on CPUs 0,1 inside its loop "
                             "(sched_getcpu) over 0.50 s, expected only CPU 1")
    (outside,) = A.observed_cpu_problems([_load(outside=(0,))])
    assert "from outside (/proc/self/task/101/stat, 50 samples)" in outside


def test_ctx_switch_problems_and_rates():
    w = _load(nonvol=600, cpu_s=0.25)
    assert w.nonvoluntary_per_s == 1200 and w.cpu_share == 0.5
    assert A.ctx_switch_problems([_load(nonvol=400)], 1000) == []
    (msg,) = A.ctx_switch_problems([w], 1000)
    assert msg.startswith("lcore 1 (thread 'rte-worker-1', tid 101) on CPU 1: 600 involuntary context switches in "
                          "0.50 s (1,200/s) while busy (traffic), expected at most 1,000/s")
    assert "eal.max_involuntary_ctx_switches_per_s" in msg
    assert _load(seconds=0).nonvoluntary_per_s == 0 and _load(seconds=0).cpu_share == 0


def test_ctx_switch_limit_from_the_profile():
    from harness.profile import parse_profile
    assert A.max_ctx_switches_per_s(SimpleNamespace(eal=EalConfig())) == 1000.0
    assert A.max_ctx_switches_per_s(parse_profile("[eal]\nmax_involuntary_ctx_switches_per_s = 5\n", "p.toml")) == 5.0
    with pytest.raises(Exception, match="max_involuntary_ctx_switches_per_s"):
        parse_profile("[eal]\nmax_involuntary_ctx_switches_per_s = 0\n", "p.toml")


# ---------------------------------------------------------------- isolation


def _inv(**kw):
    return {f"cmdline_{k}": v for k, v in {"isolcpus": "", "nohz_full": "", "rcu_nocbs": "", **kw}.items()}


def test_no_isolation_is_advice():
    s = A.isolation_state(_inv(), {1, 2})
    assert s.isolated == frozenset() and len(s.advice) == 1
    assert "add isolcpus=1,2 nohz_full=1,2 rcu_nocbs=1,2" in s.advice[0]


def test_full_isolation_has_no_advice():
    s = A.isolation_state(_inv(isolcpus="managed_irq,domain,1-3", nohz_full="1-3", rcu_nocbs="1-3"), {1, 2})
    assert s.isolated == {1, 2} and s.advice == ()


def test_partial_isolation_names_what_is_missing():
    s = A.isolation_state(_inv(isolcpus="1", nohz_full="1-2"), {1, 2})
    assert s.isolated == frozenset()
    assert s.advice == ("isolcpus does not cover data-plane CPU 2 (isolcpus=1); add them to isolcpus=",
                        "rcu_nocbs does not cover data-plane CPUs 1,2 (rcu_nocbs=not set); add them to rcu_nocbs=")


def test_isolation_all_and_garbage():
    s = A.isolation_state(_inv(isolcpus="2", nohz_full="2", rcu_nocbs="all"), {2}, last_cpu=3)
    assert s.isolated == {2} and s.advice == ()
    s = A.isolation_state(_inv(isolcpus="x-y", nohz_full="2", rcu_nocbs="2"), {2})
    assert s.covered["isolcpus"] is None and s.advice == ("isolcpus=x-y: not understood; check the kernel command line",)


# ---------------------------------------------------------------- NUMA


def test_numa_sound():
    assert A.numa_problems([("p0", 1), ("p1", 1)], {3: 1}, "dh_pool", {1}) == ([], [])


def test_numa_lcore_and_pool_on_the_other_socket():
    problems, unknowns = A.numa_problems([("p0", 1)], {3: 0}, "dh_pool", {0})
    assert unknowns == []
    assert problems == [
        "port p0 is on socket 1 but its polling lcore 3 is on socket 0; map the polling lcore to a CPU of "
        "socket 1 in eal.lcores",
        "port p0 is on socket 1 but pool dh_pool's memory is on socket 0; set mempool.socket = 1 (or -1 for the "
        "ports' socket) and give that socket hugepages"]


def test_numa_unknowns():
    problems, unknowns = A.numa_problems([("vdev", -1), ("p1", 0)], {1: 0}, "dh_pool", set())
    assert problems == []
    assert unknowns == ["port vdev reports no NUMA socket (SOCKET_ID_ANY)",
                        "pool dh_pool: the socket of its memory is unknown"]


# ---------------------------------------------------------------- busy poll


def test_busy_poll_figures():
    st = RunStats(tsc_hz=2_000_000_000, elapsed_s=0.5, loops=1000, cpu_first=1, cpu_last=1, running=False,
                  gen_done=False, pool_min_avail=0,
                  tasks=[dict(rx_pkts=0, tx_pkts=1000, rx_polls=0, rx_empty_polls=0),
                         dict(rx_pkts=1000, tx_pkts=0, rx_polls=1000, rx_empty_polls=250)])
    bp = A.busy_poll(1, st)
    assert bp.cycles == 1_000_000_000 and bp.cycles_per_pkt == 1_000_000 and bp.empty_poll_share == 0.25
    idle = A.busy_poll(1, dataclasses.replace(st, tasks=[dict(rx_pkts=0, tx_pkts=0, rx_polls=0, rx_empty_polls=0)]))
    assert idle.cycles_per_pkt is None and idle.empty_poll_share is None
