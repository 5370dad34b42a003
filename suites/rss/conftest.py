"""Fixtures of the RSS suite: where traffic spreads, and the spread run the checks share.

``rss_target`` is parametrized (``pytest_generate_tests`` below):

* NIC runs: the NIC ports under test, with the device's own RSS (one parameter, ``nic``);
* vdev runs: ``tap`` (net_tap fed from its kernel side: the kernel's flow hash picks the queue)
  and ``af_packet`` (qpairs on a veth; PACKET_FANOUT_HASH picks the queue). These are the CI
  coverage: a real multi-queue spread, from the kernel's hash rather than a device's.

The queue count is :func:`harness.rss.spread_queue_count`: the profile's ``queues.rx``, or
``rss.DEMO_QUEUES`` on vdev runs whose profile has a single rx queue.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest

from harness import perf, registry, rss
from harness.stash import SESSION_KEY

PKTS_PER_FLOW = 4
MAX_SPREAD_PKTS = 200_000


def pytest_generate_tests(metafunc):
    if "rss_kind" in metafunc.fixturenames:
        nic = metafunc.config.stash[SESSION_KEY].profile.ports.nic_mode
        kernel_fed = [t.name for t in registry.TOPOLOGIES.values() if t.kernel_fed]
        metafunc.parametrize("rss_kind", ["nic"] if nic else kernel_fed)


@dataclass
class RssTarget:
    """Ports the spread checks send to, and what spreads the flows over their rx queues."""

    kind: str
    topo: object
    queues: int
    device_rss: bool                  # the device's RSS picks the queue (else the kernel's flow hash)

    @property
    def port(self):
        return self.topo.rx

    @property
    def describe(self) -> str:
        how = "device RSS" if self.device_rss else "kernel flow hash"
        return f"{self.topo.describe_ports()} ({self.queues} rx queues, {how})"


@pytest.fixture
def rss_target(rss_kind, harness, pool, profile) -> RssTarget:
    """The ports and rx queue count the spread checks use (nic; or tap and af_packet)."""
    if profile.queues.rx == 1 and not profile.rss.enabled:
        pytest.skip("the deployment has one rx queue and RSS off (queues.rx = 1, rss.enabled = false): "
                    "nothing to spread")
    if rss_kind == "nic":
        topo = harness.topology()
        nq = topo.port_conf.nb_rxq
        if nq <= 1:
            pytest.skip(f"{topo.describe_ports()}: {nq} rx queue configured (queues.rx = {profile.queues.rx}); "
                        "RSS spreads over several")
        if len(topo.ports) < 2 and profile.ports.loopback != "internal":
            pytest.skip(f"{topo.describe_ports()}: no wire to send the flows over (one port, loopback "
                        f"{profile.ports.loopback}); use a port pair with a cable or internal loopback")
        return RssTarget("nic", topo, nq, True)  # bring-up applied the profile's RETA
    topo = harness.topology(rss_kind, queues=rss.spread_queue_count(profile))
    nq = topo.port_conf.nb_rxq
    if nq <= 1:
        pytest.skip(f"{topo.describe_ports()}: offers {nq} rx queue; the spread needs several")
    return RssTarget(rss_kind, topo, nq, False)


def pkts_per_flow(flows: int) -> int:
    return max(1, min(PKTS_PER_FLOW, MAX_SPREAD_PKTS // flows))


@pytest.fixture(scope="session")
def _rss_runs() -> dict:
    return {}


@pytest.fixture
def spread_run(rss_target, harness, pool, profile, _rss_runs) -> rss.Delivery:
    """The profile's flows sent into the target once per session and shared by the checks:
    ``rss.flows`` flows x up to 4 frames, every rx queue polled per :func:`harness.rss.queue_plan`
    over the worker lcores."""
    key = (rss_target.kind, rss_target.queues, profile.rss.flows)
    if key not in _rss_runs:
        flows = rss.harness_flows(profile.rss.flows)
        count = len(flows) * pkts_per_flow(len(flows))
        # a run that lost frames while the worker lcores were preempted is the tester's, not the device's:
        # run again; out of retries it is an ERROR "tester overloaded"
        d = perf.judgeable_run(
            lambda: rss.send_and_capture(rss_target.topo, harness.worker_lcores(), flows, count,
                                         queues=rss_target.queues, pool=pool, burst=profile.queues.burst,
                                         reset_stats=True),
            lambda d: (d.sent, d.sent, d.received), what=f"{rss_target.describe}: the spread run")
        _rss_runs[key] = d
    return _rss_runs[key]


@pytest.fixture
def flows_rule(measure):
    """The "too few flows" rule: records flows per queue and warns (RssFlowsWarning) when fewer
    than 5 are expected per queue; returns True when it applies."""

    def check(flows: int, queues: int) -> bool:
        measure("rss_flows_per_queue", flows / queues, unit="flows", target=rss.MIN_FLOWS_PER_QUEUE, op=">=")
        msg = rss.too_few_flows_message(flows, queues)
        if msg:
            warnings.warn(rss.RssFlowsWarning(msg), stacklevel=2)
        return msg is not None

    return check
