"""Each soak check FAILS on a short real soak of a broken deployment, naming the fix; a sound one passes, and
a counter the ports do not keep is a SKIP naming the device. (The in-use slope's mutation, a probe that
leaks its unsent mbufs, and the 2-minute sound soak are in tests/system/test_soak_runs.py.)

Each soak here lasts SOAK (the minimum is 10 s); about a minute in all."""
import json
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/soak"
SOAK = "16s"
LIFECYCLE = "test_soak"
NOMBUF, IMISSED = "test_soak_rx_nombuf_rate", "test_soak_imissed_rate"
WORKER_CPU = 1  # profiles/vdev.toml: eal.lcores = "0-1", the worker lcore 1 on CPU 1

# a process pinned to the worker's CPU, waking every 0.1 ms: each wakeup preempts the busy-polling worker
# (a spinning hog would not do: the scheduler gives two CPU-bound tasks slices of milliseconds, tens of
# preemptions a second, well inside the default 1000/s)
CHATTY = "import time\nwhile True:\n    time.sleep(0.0001)\n"


def soak(tmp_path, *args, profile=None):
    run = run_suite(tmp_path, SUITE, "--dpdk-soak", SOAK, *args, profile=profile)
    assert run.verdicts, f"the child ran no check (exit {run.returncode}):\n{run.output}"
    reports = sorted(tmp_path.glob("reports-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    checks = {c["name"]: c for c in json.loads((reports / "results.json").read_text())["soak"]["checks"]}
    return run, checks


def counters_skipped_naming_net_ring(run, checks):
    for test, counter in ((NOMBUF, "rx_nombuf"), (IMISSED, "imissed")):
        assert run.outcome(test) == "skipped", (test, run.output)
        assert f"(net_ring): net_ring has no {counter} counter" in run.message(test), run.message(test)
        c = checks[f"soak_{counter}_rate"]
        assert c["passed"] is None and c["message"].startswith("not judgeable: "), c  # not a pass


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return soak(tmp_path_factory.mktemp("soak-sound"))


def test_sound_short_soak_passes_and_skips_the_counters_net_ring_lacks(sound):
    run, checks = sound
    assert run.returncode == 0, run.output
    assert run.outcome(LIFECYCLE) == "passed", run.output
    for name in ("soak_mbufs_in_use_slope", "soak_worker_involuntary_ctx_switches", "soak_pool_headroom_min"):
        assert checks[name]["passed"] is True, checks[name]
    assert checks["soak_pool_headroom_min"]["value"] >= 32 * 100, checks  # ample: a default pool never nears a burst
    counters_skipped_naming_net_ring(run, checks)


def test_pool_smaller_than_the_wire_fails_the_headroom_check(tmp_path):
    """1023 mbufs for a 1024-deep ring wire (the rx descriptors' stand-in): under load the wire takes them all."""
    run, checks = soak(tmp_path, profile=mutated_profile(tmp_path, "drypool", mempool__mbufs=1023))
    assert run.outcome(LIFECYCLE) == "failed", run.output
    head = checks["soak_pool_headroom_min"]
    assert head["passed"] is False and head["value"] < head["target"] == 32, head
    msg = run.message(LIFECYCLE)
    assert "soak_pool_headroom_min: the pool's free mbufs fell to" in msg and "under load" in msg, msg
    assert "expected at least 32 (a burst) free at every moment" in msg and "the pool ran dry" in msg, msg
    assert "set mempool.mbufs >= 4672 (e.g. 8191)" in msg, msg
    # one cause, one failing check: nothing leaked, and rx_nombuf is not invented on a PMD that cannot count it
    assert checks["soak_mbufs_in_use_slope"]["passed"] is True, checks
    assert "soak_mbufs_in_use_slope: mbufs in use trend" not in msg, msg
    counters_skipped_naming_net_ring(run, checks)


def test_a_chatty_process_on_the_worker_cpu_fails_the_preemption_check(tmp_path):
    chatty = subprocess.Popen(["taskset", "-c", str(WORKER_CPU), sys.executable, "-c", CHATTY])
    try:
        run, checks = soak(tmp_path)
    finally:
        chatty.kill()
        chatty.wait()
    assert run.outcome(LIFECYCLE) == "failed", run.output
    ctx = checks["soak_worker_involuntary_ctx_switches"]
    assert ctx["passed"] is False and ctx["value"] > ctx["target"] == 1000, ctx
    msg = run.message(LIFECYCLE)
    assert "soak_worker_involuntary_ctx_switches: the worker was preempted" in msg, msg
    assert "at most eal.max_involuntary_ctx_switches_per_s = 1000" in msg, msg
    assert "isolate its CPU (isolcpus, nohz_full) or move what else runs there" in msg, msg
    assert checks["soak_pool_headroom_min"]["passed"] is True, checks  # preemption, not a pool problem
