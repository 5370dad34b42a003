"""Each core-pinning check FAILS on its broken deployment, naming the thread and the CPUs; the sound
profile passes. The suite runs in a child pytest (EAL boots once per process) on a mutated profile."""
import os
import pathlib
import re
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/affinity"
PINNING = "test_lcores_pinned_one_cpu_each"
OBSERVED = "test_workers_run_only_on_their_cpu"
CTX = "test_worker_involuntary_context_switches"
OTHERS = "test_no_other_thread_of_the_process_on_worker_cpus"

# a thread started before EAL boots (so it keeps the process's full affinity), then moved onto the worker's
# CPU 1, waking every 0.1 ms: a chatty neighbour such as a timer or a threaded IRQ handler
NEIGHBOUR = '''
import os, threading, time

def _run():
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write("aff-neighbour")  # the kernel's name for the thread (Python 3.11 does not set it)
    os.sched_setaffinity(0, {1})
    while True:
        time.sleep(0.0001)

threading.Thread(target=_run, name="aff-neighbour", daemon=True).start()
'''

BOOT_ENOMEM = "rte_eal_init"  # with "Cannot allocate memory": hugepages taken by another run on this host
BOOT_RETRY_S = 5.0


def run(tmp_path, *args, profile=None):
    """The suite in a child pytest; one retry when EAL could not get its hugepages (another run on a
    shared host holds them), then the child's verdicts, each one required to be there."""
    for _attempt in range(2):
        res = run_suite(tmp_path, SUITE, *args, profile=profile)
        if res.verdicts or not (BOOT_ENOMEM in res.output and "Cannot allocate memory" in res.output):
            break
        time.sleep(BOOT_RETRY_S)
    assert res.verdicts, f"the child ran no check (exit {res.returncode}):\n{res.output}"
    return res


RUNTIME_DIRS = (pathlib.Path("/var/run/dpdk"), pathlib.Path("/run/dpdk-harness"))
_PID = re.compile(r"^(?:dh|run)-(\d+)-")


def _artifacts() -> set[pathlib.Path]:
    return {p for d in RUNTIME_DIRS if d.is_dir() for p in d.iterdir() if _PID.match(p.name)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(autouse=True)
def host_left_clean():
    """No EAL runtime dir or journal of a finished child is left behind (those of live runs are others')."""
    before = _artifacts()
    yield
    left = [p for p in _artifacts() - before if not _alive(int(_PID.match(p.name).group(1)))]
    assert not left, f"the child run left {left} behind"


@pytest.fixture(autouse=True)
def two_cpus():
    if len(os.sched_getaffinity(0)) < 2 and (os.cpu_count() or 1) < 2:
        pytest.skip("the affinity mutations need a host with at least 2 CPUs")


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return run(tmp_path_factory.mktemp("aff-sound"))


def test_sound_profile_passes_every_check(sound):
    assert sound.returncode == 0, sound.output
    failed = {t: v for t, v in sound.verdicts.items() if v[0] in ("failed", "error")}
    assert not failed, failed
    for test in (PINNING, OBSERVED, CTX, OTHERS, "test_isolation_reported", "test_busy_poll_efficiency_reported"):
        assert sound.outcome(test) == "passed", (test, sound.output)
    # a single-node host: the NUMA check is a SKIP with the reason, never a pass
    numa = sound.verdicts["test_ports_lcores_and_pool_on_one_socket"]
    if numa[0] == "skipped":
        assert "single NUMA node" in numa[1]


def test_worker_on_two_cpus_fails_the_pinning_check(tmp_path):
    res = run(tmp_path, profile=mutated_profile(tmp_path, "twocpus", eal__lcores="0@0,1@(0,1)"))
    assert res.outcome(PINNING) == "failed", res.output
    msg = res.message(PINNING)
    assert re.search(r"lcore 1 \(thread 'rte-worker-1', tid \d+\): may run on CPUs 0,1 \(2 CPUs\); "
                     r"expected exactly one CPU", msg), msg
    assert re.search(r"main lcore 0 \(thread '[^']*', tid \d+\) and lcore 1 \(thread 'rte-worker-1', tid \d+\) "
                     r"share CPU 0", msg), msg
    assert 'eal.lcores = "0@0,1@1"' in msg, msg


def test_two_workers_on_one_cpu_fail_the_pinning_check(tmp_path):
    res = run(tmp_path, profile=mutated_profile(tmp_path, "onecpu", eal__lcores="0@0,1@1,2@1"))
    assert res.outcome(PINNING) == "failed", res.output
    msg = res.message(PINNING)
    # both workers are looked at, not just the harness's worker (lcore 1)
    assert re.search(r"lcore 1 \(thread 'rte-worker-1', tid \d+\) and lcore 2 \(thread 'rte-worker-2', tid \d+\) "
                     r"are both pinned to CPU 1; expected each lcore alone on its own CPU", msg), msg
    assert "2 CPUs for 3 lcores" in msg and 'eal.lcores = "0@0,1@1"' in msg, msg
    # each thread is on exactly one CPU, the profile's: only the sharing is wrong
    assert not re.search(r"tid \d+\): may run on", msg), msg


def test_chatty_neighbour_fails_the_interference_checks(tmp_path):
    (tmp_path / "aff_neighbour.py").write_text(NEIGHBOUR)
    res = run(tmp_path, "-p", "aff_neighbour", "-k", "not numa and not busy_poll")
    assert res.outcome(OTHERS) == "failed", res.output
    msg = res.message(OTHERS)
    assert re.search(r"thread 'aff-neighbour' \(tid \d+\) of this process may run on CPU 1, which includes "
                     r"worker CPU 1", msg), msg
    assert res.outcome(CTX) == "failed", res.output
    assert re.search(r"lcore 1 \(thread 'rte-worker-1', tid \d+\) on CPU 1: \d+ involuntary context switches in "
                     r"[\d.]+ s \([\d,]+/s\) while busy \(traffic\), expected at most 1,000/s", res.message(CTX))
    # the lcores themselves are pinned right
    assert res.outcome(PINNING) == "passed", res.message(PINNING)
