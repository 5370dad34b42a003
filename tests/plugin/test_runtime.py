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
        f"mbuf leak: {leaked} mbufs of pool dh_pool still in use after the test (in use before: *); "
        "free every mbuf rte_eth_tx_burst did not take",
    ])
    result.stdout.fnmatch_lines(["FAILED test_leaks.py::test_unsent_leaked - Failed: mbuf leak: *"])
    result.stdout.no_fnmatch_line("*dpdk-harness: teardown:*")
    host_guard()


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
