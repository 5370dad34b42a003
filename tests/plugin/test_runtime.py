"""Runs that boot DPDK: the mbuf leak guard, and --vdev choosing the ports a test gets."""
from __future__ import annotations

import re

# The ring wire holds 1024 mbufs and nobody receives, so most of what the generator makes is
# refused by tx_burst. Freed, that is no leak; left in use (F_LEAK_UNSENT), the guard must fail the
# test and name the count. The passing test runs first: once the leaky one ran, its mbufs stay in
# use for the rest of that child process.
LEAKS = """
import time

import harness.probe
import harness.traffic


def _generate(ports, pool, worker, flags):
    run = harness.probe.Run(worker, [harness.probe.Task.gen(ports.tx)], pool=pool, count=3000, flags=flags)
    time.sleep(0.2)
    st = run.stop()
    return st.tasks[0]


def test_unsent_freed_and_wire_drained(ports, pool, worker):
    gen = _generate(ports, pool, worker, 0)
    assert gen["tx_unsent"] > 0 and gen["tx_pkts"] == ports.pending() > 0, gen
    assert harness.traffic.drain(ports, worker) == gen["tx_pkts"]
    assert ports.pending() == 0


def test_unsent_leaked(ports, pool, worker):
    gen = _generate(ports, pool, worker, harness.probe.F_LEAK_UNSENT)
    print(f"LEAKED={gen['tx_unsent']} SENT={gen['tx_pkts']} PENDING={ports.pending()}")
"""


def test_leak_guard_fails_a_test_that_leaks_mbufs(child, pytester, host_guard):
    pytester.makepyfile(test_leaks=LEAKS)
    result = child.run("-rA")
    out = child.output(result)
    result.assert_outcomes(passed=1, failed=1)
    child.no_traceback(result)
    result.stdout.fnmatch_lines(["PASSED test_leaks.py::test_unsent_freed_and_wire_drained"])
    m = re.search(r"LEAKED=(\d+) SENT=(\d+) PENDING=(\d+)", out)
    assert m, f"the leaky test did not report its counters:\n{out}"
    leaked, sent, pending = map(int, m.groups())
    assert leaked > 0 and sent == pending > 0, (leaked, sent, pending)
    # the mbufs still in the wire are in flight, not leaked: the count is exactly the unsent ones
    result.stdout.fnmatch_lines([
        "*_ test_unsent_leaked _*",
        f"mbuf leak: test_unsent_leaked left {leaked} mbufs of pool dh_pool in use (in use before: *); "
        "free every mbuf rte_eth_tx_burst did not take*",
    ])
    result.stdout.fnmatch_lines(["FAILED test_leaks.py::test_unsent_leaked - Failed: mbuf leak: *"])
    result.stdout.no_fnmatch_line("*dpdk-harness: teardown:*")
    host_guard()


# A check that crashes while it holds mbufs: the guard runs for it too, names it, and gives the held
# mbufs back; a check that leaks for good leaves later pool checks not judgeable, naming it.
CRASHES = """
import time

import harness.probe


def test_holds_then_crashes(pool):
    pool.hold(5000)
    raise RuntimeError("boom while holding")


def test_after_the_crash(pool):
    assert pool.stats().in_use < 1000, pool.stats()


def test_leaks_for_good(ports, pool, worker):
    run = harness.probe.Run(worker, [harness.probe.Task.gen(ports.tx)], pool=pool, count=7000,
                            flags=harness.probe.F_LEAK_UNSENT)
    time.sleep(0.3)
    run.stop()
    raise AssertionError("and then it fails")


def test_needs_the_pool(pool):
    pass
"""


def test_leak_guard_names_a_crashed_check_and_the_pool_is_restored_or_not_judged(child, pytester, host_guard):
    pytester.makepyfile(test_crashes=CRASHES)
    result = child.run("-rA")
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*RuntimeError: boom while holding*",
        "*mbuf leak: test_holds_then_crashes left 5000 mbufs of pool dh_pool in use*; 5000 held mbufs were given back*",
    ])
    result.stdout.fnmatch_lines(["PASSED test_crashes.py::test_after_the_crash"])
    result.stdout.fnmatch_lines(["*mbuf leak: test_leaks_for_good left * mbufs of pool dh_pool in use*"])
    result.stdout.fnmatch_lines(["SKIPPED * not judgeable: test_leaks_for_good leaked * mbufs of pool dh_pool: * of "
                                 "its 8191 remain, below the 4672 the pipeline needs (mempool.mbufs)*"])
    host_guard()


OVERLOADED = """
from harness.errors import OverloadedTesterError


def test_tester_could_not_keep_up():
    raise OverloadedTesterError("tester overloaded: 3 trials in a row spoiled by the tester")
"""


def test_tester_overloaded_is_an_error_not_a_fail(child, pytester):
    pytester.makepyfile(test_overloaded=OVERLOADED)
    result = child.run("-rA", "--junitxml", str(pytester.path / "j.xml"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*_ ERROR at call of test_tester_could_not_keep_up _*",
                                 "tester overloaded: 3 trials in a row spoiled by the tester",
                                 "ERROR test_overloaded.py::test_tester_could_not_keep_up - tester overloaded*"])
    xml = (pytester.path / "j.xml").read_text()
    assert 'type="tester-overloaded"' in xml and "<failure" not in xml, xml


SPOILED_RUNS = """
from harness import perf


def fake(*outcomes):
    # (offered, received, ms the worker lcores spent off their CPUs) per run, on a fake schedstat clock
    clock, todo = [0.0], list(outcomes)

    def run():
        offered, received, ms = todo.pop(0) if len(todo) > 1 else todo[0]
        clock[0] += ms / 1e3
        return offered, received

    return run, lambda: clock[0]


def judged(*outcomes):
    run, waited = fake(*outcomes)
    return perf.judgeable_run(run, lambda r: (1000, *r), what="kernel-fed capture", waited_s=waited)


def test_spoiled_once_then_clean():
    offered, received = judged((1000, 900, 20.0), (1000, 1000, 0.0))
    assert received == offered == 1000


def test_always_spoiled():
    offered, received = judged((1000, 900, 20.0))
    assert received == offered, "unreachable: the budget runs out first"


def test_genuine_loss_on_the_cpu():
    offered, received = judged((1000, 990, 0.0))
    assert received == offered, f"the device lost {offered - received} of {offered} frames"
"""


def test_a_spoiled_run_is_retried_then_a_tester_error_and_a_genuine_loss_still_fails(child, pytester):
    """tests/system's rule end to end: a run spoiled once passes on its retry; spoiled every time it is an
    ERROR "tester overloaded" naming tester and device loss apart; a loss with the tester on its CPU FAILS."""
    pytester.makepyfile(test_spoiled=SPOILED_RUNS)
    result = child.run("-rA", "--junitxml", str(pytester.path / "j.xml"))
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["PASSED test_spoiled.py::test_spoiled_once_then_clean"])
    result.stdout.fnmatch_lines(["*_ ERROR at call of test_always_spoiled _*",
                                 "tester overloaded: kernel-fed capture: 5 run(s) in a row lost frames while the tester "
                                 "was off its CPU, the last: 100 of 1000 frames missing while the worker lcores waited "
                                 "20.0 ms for a CPU (tester loss 0, device loss 100): nothing is known about the device*"])
    result.stdout.fnmatch_lines(["*AssertionError: the device lost 10 of 1000 frames*"])
    result.stdout.fnmatch_lines(["ERROR test_spoiled.py::test_always_spoiled - tester overloaded*"])
    result.stdout.fnmatch_lines(["FAILED test_spoiled.py::test_genuine_loss_on_the_cpu*"])
    xml = (pytester.path / "j.xml").read_text()
    assert xml.count('type="tester-overloaded"') == 1 and xml.count("<failure") == 1, xml


NULL_PAIR = """
def test_two_null_ports(ports):
    assert ports.kind == "null_pair"
    assert [p.driver for p in ports.ports] == ["net_null", "net_null"]
    assert all(p.link()["up"] for p in ports.ports)
"""


def test_vdev_null_pair_gives_two_net_null_ports(child, pytester, host_guard):
    pytester.makepyfile(test_null=NULL_PAIR)
    result = child.run("--vdev", "null_pair")
    assert result.ret == 0, child.output(result)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["ports: vdev topology null_pair"])
    result.stdout.no_fnmatch_line("*dpdk-harness: teardown:*")
    host_guard()
