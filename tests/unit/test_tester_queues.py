"""The throughput tester on NIC ports with several rx queues, without DPDK: a fake NIC pair (two ports on a
cable, RSS putting the tester's one flow on one queue that is not 0) stands in for the ports, and a fake
perf run plays each trial out at once. Also: a NIC run never asks its ports for other queue counts."""
from __future__ import annotations

import pytest

import harness.perf.run as perf_run
from harness.errors import HarnessError
from harness.perf import model
from harness.perf.native import ROLE_DUT, ROLE_GEN, ROLE_RECV
from harness.profile import parse_profile
from harness.session import HarnessSession
from harness.system.journal import Journal

QUEUES = 4


class FakePort:
    def __init__(self, port_id: int):
        self.id, self.name, self.driver = port_id, f"0000:0{port_id + 1}:00.0", "net_fake_igb"


class FakeNic:
    """Ports 0 and 1 on a cable. What one port sends arrives at the other on ``flow_queue`` (RSS: one flow,
    one queue), or spread over every queue when ``flow_queue`` is "spread", or nowhere when None (link down).
    Frames nobody polls stay in their rx ring."""

    def __init__(self, flow_queue: int | str | None):
        self.flow_queue = flow_queue
        self.ports = [FakePort(0), FakePort(1)]
        self.runs: list[list] = []

    def deliver(self, rings: dict, port: int, n: int) -> None:
        peer = 1 - port
        if self.flow_queue == "spread":
            for q in range(QUEUES):
                rings[(peer, q)] = rings.get((peer, q), 0) + n // QUEUES
        elif self.flow_queue is not None:
            rings[(peer, self.flow_queue)] = rings.get((peer, self.flow_queue), 0) + n

    def run_class(self):
        nic = self

        class FakeRun:
            """One perf run, every task on one loop, played out when it starts."""

            def __init__(self, lcore, tasks, *, burst=None, pool=None, tsc_hz=0):
                nic.runs.append(list(tasks))
                rings: dict = {}
                out = []
                for t in tasks:  # the generator first, then the DUT, then the receivers (the Tester's order)
                    s = dict.fromkeys(("attempted", "sent", "unsent", "gen_done", "gen_ns_start", "gen_ns_end",
                                       "behind_max", "unique", "dups", "reordered", "late", "stale", "foreign",
                                       "lat_count", "lat_min", "lat_max", "lat_sum", "dut_rx", "dut_tx",
                                       "dut_drops", "dut_unsent", "dut_queue_max"), 0)
                    if t.role == ROLE_GEN:
                        s.update(attempted=t.count, sent=t.count, gen_done=1,
                                 gen_ns_end=round(t.count / t.rate_pps * 1e9))
                        nic.deliver(rings, t.tx_port, t.count)
                    elif t.role == ROLE_DUT:
                        n = rings.pop((t.rx_port, t.rx_queue), 0)
                        s.update(dut_rx=n, dut_tx=n)
                        nic.deliver(rings, t.tx_port, n)
                    elif t.role == ROLE_RECV:
                        s["unique"] = rings.pop((t.rx_port, t.rx_queue), 0)
                    out.append(s)
                self.st = {"tsc_hz": tsc_hz, "gaps": 0, "gap_s": 0.0, "gap_max_s": 0.0, "tasks": out}

            def wait_generated(self, timeout_s):
                return True

            def stats(self):
                return self.st

            def stop(self):
                return self.st

            def hist(self, task):
                return [0] * model.HIST_BUCKETS

        return FakeRun


@pytest.fixture
def nic(monkeypatch):
    def make(flow_queue):
        fake = FakeNic(flow_queue)
        monkeypatch.setattr(perf_run, "PerfRun", fake.run_class())
        monkeypatch.setattr(perf_run.Tester, "tsc_hz", lambda self: 2_000_000_000)
        return fake

    return make


def test_the_dut_is_placed_on_the_queue_the_flow_arrives_on(nic):
    fake = nic(2)
    a, b = fake.ports
    q = perf_run.flow_rx_queue(1, None, a, b, rx_queues=QUEUES, burst=32)
    assert q == 2
    recv = [(t.rx_port, t.rx_queue) for t in fake.runs[0] if t.role == ROLE_RECV]
    assert recv == [(b.id, i) for i in range(QUEUES)], "the probe must poll every configured rx queue of B"


def test_a_calibrated_dut_on_the_flows_queue_returns_every_frame_and_queue_0_would_lose_them(nic):
    """The tester receives on every queue of A and the DUT polls B's flow queue: nothing is lost. A DUT
    on queue 0 (the one-queue assumption) forwards nothing, and the search would measure that."""
    fake = nic(3)
    a, b = fake.ports
    dut = model.CalibratedDut(50_000, queue=64)
    right = perf_run.Tester(1, None, a, a, rx_queues=QUEUES, burst=32, frames=64, dut=dut, dut_ports=(b, b),
                            dut_rx_queue=perf_run.flow_rx_queue(1, None, a, b, rx_queues=QUEUES, burst=32))
    t = right.trial(10_000, 0.1)
    assert (t.intended, t.received, t.dut["dut_rx"]) == (1000, 1000, 1000), t.line()
    assert t.rx_per_queue == (0, 0, 0, 1000) and t.passes()
    dut_task = next(x for x in fake.runs[-1] if x.role == ROLE_DUT)
    assert (dut_task.rx_port, dut_task.rx_queue, dut_task.tx_port) == (b.id, 3, b.id)
    wrong = perf_run.Tester(1, None, a, a, rx_queues=QUEUES, burst=32, frames=64, dut=dut, dut_ports=(b, b))
    lost = wrong.trial(10_000, 0.1)
    assert lost.received == 0 and not lost.passes()


def test_one_rx_queue_needs_no_probe(nic):
    fake = nic(None)
    assert perf_run.flow_rx_queue(1, None, *fake.ports, rx_queues=1) == 0
    assert fake.runs == []


@pytest.mark.parametrize("flow_queue, says", [
    (None, "none of its frames arrived on any of the 4 rx queues"),
    ("spread", "its frames arrived on rx queues 0 (16), 1 (16), 2 (16), 3 (16): the device does not keep one flow"),
])
def test_a_flow_that_does_not_land_on_one_queue_is_an_error_naming_the_port(nic, flow_queue, says):
    fake = nic(flow_queue)
    with pytest.raises(HarnessError) as info:
        perf_run.flow_rx_queue(1, None, *fake.ports, rx_queues=QUEUES, burst=32)
    msg = str(info.value)
    assert says in msg and "0000:02:00.0 (net_fake_igb) with 4 rx queues" in msg and "queues.rx" in msg, msg


@pytest.mark.parametrize("counts, queue", [((0, 0, 7, 0), 2), ((5,), 0), ((0, 0), None), ((1, 0, 1), None)])
def test_flow_queue(counts, queue):
    got, why = model.flow_queue(counts)
    assert got == queue and (why == "") == (queue is not None)


def test_a_nic_run_never_asks_its_ports_for_other_queue_counts(tmp_path, monkeypatch):
    """A check asking for a one-queue wire gets the NIC pair as the profile configured it (4 queues): the
    ports are configured once; asking a started igb port for 1 queue is refused by the PMD."""
    prof = parse_profile('[ports]\nloopback = "cable"\n[queues]\nrx = 4\ntx = 4\n', "p.toml",
                         nic=["0000:01:00.0", "0000:02:00.0"])
    sess = HarnessSession(prof, journal=Journal(state_dir=tmp_path))
    made = []
    monkeypatch.setattr(sess, "require_pool", lambda: None)
    monkeypatch.setattr(sess, "_make", lambda kind, queues: made.append((kind, queues)) or object())
    own = sess.topology()
    assert sess.topology("ring_wire", queues=1) is own and sess.topology("tap", queues=4) is own
    assert made == [("nic", None)]
