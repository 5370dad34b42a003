"""Each audit check FAILS, with the message a user acts on, on a running application deployed wrong; a sound
application passes. The application under audit is a real dpdk-testpmd on vdevs (net_tap with 4 queues fed from
its kernel side, or a net_null pair), started and torn down here; the audit runs in a child pytest
(``pytest suites/audit --dpdk-audit PID``), which boots no EAL of its own."""
import os
import pathlib
import re
import sys
import time
import warnings

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from audit_apps import start_app  # noqa: E402
from mutate import mutated_profile, run_suite  # noqa: E402

SUITE = "suites/audit"
WINDOW_S = 2.0
FLOWS = 256
PINNED = "test_lcores_pinned_one_cpu_each"
SHARED = "test_no_two_lcores_share_a_cpu"
NEIGHBOUR = "test_no_busy_neighbour_on_data_plane_cpus"
CTX = "test_worker_involuntary_context_switches"
NOMBUF = "test_port_counter_rate[rx_nombuf]"
SPREAD = "test_rx_queue_spread"
CACHE = "test_pool_cache_within_limits"
HUGE = "test_eal_memory_in_hugepages"
#: what DPDK 22.11 on a one-node host cannot show: skipped with the endpoint, the version or the host named
NOT_EXPOSED = {"test_pool_covers_rx_descriptors": "/ethdev/rx_queue", "test_pool_in_use_headroom": "in-use count",
               "test_ports_and_lcores_on_one_numa_node": "NUMA node"}
NEIGHBOUR_SHARE = 0.25   # a spinner sharing CPU 1 with a polling lcore takes ~1/2 of it, 1/3 with one more


pytestmark = pytest.mark.skipif(os.geteuid() != 0 or (os.cpu_count() or 1) < 2,
                                reason="needs root and 2 CPUs (dpdk-testpmd, hugepages, net_tap)")


def profile(tmp_path, name="audit", **changes):
    base = dict(audit__window_s=WINDOW_S, audit__flows=FLOWS, audit__max_neighbour_cpu_share=NEIGHBOUR_SHARE)
    return mutated_profile(tmp_path, name, **{**base, **changes})


def audit(tmp_path, app, prof=None):
    t0 = time.monotonic()
    res = run_suite(tmp_path, SUITE, "--dpdk-audit", str(app.pid), profile=prof or profile(tmp_path))
    res.seconds = time.monotonic() - t0
    assert res.verdicts, f"the child ran no check (exit {res.returncode}):\n{res.output}"
    assert app.tp.proc.poll() is None, f"the audited testpmd (pid {app.pid}) died during the audit:\n{res.output}"
    return res


def fails(res, test, *needles):
    assert res.outcome(test) == "failed", f"{test}: expected to fail, got {res.verdicts[test]}\n{res.output[-3000:]}"
    for n in needles:
        assert n in res.message(test), f"{test}: {n!r} not in the message:\n{res.message(test)}"


def test_sound_application_passes_every_check(tmp_path):
    """4 tap queues fed 256 flows, lcores 0@0 (main) and 1@1 (forwarding), a pool far larger than its queues,
    memory in hugepages: every check that applies passes; what 22.11 does not expose is skipped, named."""
    with start_app(tap_queues=4) as app:
        for _attempt in range(4):
            app.feed(flows=FLOWS, seconds=WINDOW_S + 6)
            time.sleep(0.5)
            res = audit(tmp_path, app)
            # this test starts no neighbour: one here is another run on this shared 2-CPU host (a DPDK
            # worker, the lab VM) busy on CPU 1 for a while; the check is right, the host is busy: look again
            if res.outcome(NEIGHBOUR) != "failed":
                break
            time.sleep(5.0)
        for test, (outcome, message) in res.verdicts.items():
            if test in NOT_EXPOSED:
                assert outcome == "skipped" and NOT_EXPOSED[test] in message, (test, outcome, message)
            elif test == NEIGHBOUR and outcome == "failed":
                # still busy after four looks: the neighbours it names must be other runs, none of ours
                named = {int(p) for p in re.findall(r"\(tid \d+, pid (\d+)", message)}
                assert named and not named & ({os.getpid(), app.pid} | _children()), message
                warnings.warn(f"the shared host kept CPU 1 busy through every window: {message[:300]}",
                              stacklevel=1)
            else:
                assert outcome == "passed", f"{test}: {outcome}\n{message}\n{res.output[-3000:]}"
        assert res.outcome(SPREAD) == "passed"  # judged on traffic, not skipped
        assert res.seconds < WINDOW_S + 15, f"the audit took {res.seconds:.1f} s for a {WINDOW_S} s window"


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_two_forwarding_lcores_on_one_cpu(tmp_path):
    with start_app(lcores="0@0,1@1,2@1", app_args=["--nb-cores=2"], null_pair=True) as app:
        res = audit(tmp_path, app)
    fails(res, SHARED, "forwarding lcore 1", "lcore 2", "share CPU 1", "--lcores")
    assert res.outcome(PINNED) == "passed", res.verdicts[PINNED]


def test_lcore_allowed_on_two_cpus(tmp_path):
    with start_app(lcores="0@0,1@(0,1)", null_pair=True) as app:
        res = audit(tmp_path, app)
    fails(res, PINNED, "lcore 1 (worker", "may run on CPUs 0,1", "expected exactly one CPU", "--lcores 0@0,1@1")


def test_pool_too_small_for_its_queues(tmp_path):
    """4 queues x 272 rx descriptors held by net_tap out of a pool of 1100: the pool runs dry under traffic."""
    with start_app(tap_queues=4, mbufs=1100, app_args=["--rxd=272", "--mbcache=0"]) as app:
        app.feed(flows=FLOWS, seconds=WINDOW_S + 6)
        time.sleep(0.5)
        res = audit(tmp_path, app)
    fails(res, NOMBUF, "rx_nombuf rose by", "--total-num-mbufs")
    assert res.outcome("test_port_counter_rate[ierrors]") == "passed"


def test_busy_neighbour_on_the_forwarding_cpu(tmp_path):
    """A process of ours spinning on CPU 1, the forwarding lcore's: the neighbour check names it; with a tight
    audit.max_involuntary_ctx_switches_per_s the preemption check fails too. The share limit is low here
    (5 %): on this shared host other runs may busy CPU 1 as well, leaving the spinner a third of it or less."""
    with start_app(null_pair=True) as app:
        spinner = app.spin_on(1)
        time.sleep(0.3)
        res = audit(tmp_path, app, profile(tmp_path, "neighbour", audit__max_involuntary_ctx_switches_per_s=1.0,
                                           audit__max_neighbour_cpu_share=0.05))
    fails(res, NEIGHBOUR, f"pid {spinner.pid}", "CPU 1", "taskset")
    fails(res, CTX, "lcore 1", "preempted", "audit.max_involuntary_ctx_switches_per_s")
    assert res.outcome(SHARED) == "passed" and res.outcome(PINNED) == "passed"


def test_all_traffic_on_one_of_four_queues(tmp_path):
    with start_app(tap_queues=4) as app:
        app.feed(flows=1, seconds=WINDOW_S + 6)
        time.sleep(0.5)
        res = audit(tmp_path, app)
    fails(res, SPREAD, "all of it on queue", "of 4", "--rss-ip")
    assert res.outcome(NOMBUF) == "passed"


def test_lcore_caches_hold_most_of_the_pool(tmp_path):
    """1200 mbufs, testpmd's default cache of 250 on 2 lcores: 750 mbufs can sit in caches."""
    with start_app(null_pair=True, mbufs=1200) as app:
        res = audit(tmp_path, app)
    fails(res, CACHE, "mb_pool_0", "caches can hold 750 of its 1200", "--mbcache")


def test_memory_outside_hugepages(tmp_path):
    with start_app(null_pair=True, hugepages_=False) as app:
        res = audit(tmp_path, app)
    fails(res, HUGE, "--no-huge", "hugepages")
