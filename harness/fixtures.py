"""Fixtures the suites use: the harness session, EAL, pool, ports, worker lcore, measurements.

A suite asks for configured ports and a worker, runs traffic through the probe, reads numbers
and asserts against the profile. It never builds EAL arguments or touches sysfs itself.
"""
from __future__ import annotations

import pytest

from harness import __version__, capabilities
from harness.errors import HarnessError
from harness.session import Figure, HarnessSession
from harness.stash import SESSION_KEY

EXIT_HARNESS_ERROR = 4  # pytest's usage-error code: bad input or a host we must not / cannot touch


def _session(config) -> HarnessSession:
    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def harness(request) -> HarnessSession:
    """The harness session, provisioned and booted (hugepages, bindings, EAL, pool)."""
    sess = _session(request.config)
    try:
        return sess.start()
    except HarnessError as exc:
        pytest.exit(f"dpdk-harness: {exc}", returncode=EXIT_HARNESS_ERROR)


@pytest.fixture(scope="session", autouse=True)
def _harness_inventory(request, record_testsuite_property):
    """Host inventory as JUnit testsuite properties: the snapshot every other output shows too."""
    sess = _session(request.config)
    for key, value in sess.inventory.items():
        record_testsuite_property(key, value)
    record_testsuite_property("profile", sess.profile.name)
    record_testsuite_property("harness_version", __version__)
    fault = request.config.getoption("probe_fault")
    if fault:  # a deliberately broken probe: the report must say so
        record_testsuite_property("probe_fault", fault)


@pytest.fixture(scope="session")
def profile(request):
    """The deployment profile under test (with --nic/--vdev/--lcores applied)."""
    return _session(request.config).profile


@pytest.fixture(scope="session")
def eal(harness):
    return harness.eal


def _needs_pool(harness):
    """The pool, or a setup failure naming why the profile's pool could not be created."""
    try:
        return harness.require_pool()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def pool(harness):
    """The profile's mbuf pool, shared by every port."""
    return _needs_pool(harness)


@pytest.fixture(scope="session")
def worker(harness) -> int:
    """The first worker lcore: where traffic loops run."""
    workers = harness.worker_lcores()
    if not workers:
        pytest.exit("dpdk-harness: eal.lcores has no worker lcore; give at least two lcores, e.g. --lcores 0-1",
                    returncode=EXIT_HARNESS_ERROR)
    return workers[0]


def _apply_requires(request, topo) -> None:
    for mark in request.node.iter_markers("requires"):
        for cap in mark.args:
            reason = capabilities.missing(topo, cap)
            if reason:
                pytest.skip(reason)


@pytest.fixture
def ports(request, harness):
    """The profile's ports (its vdev topology, or the --nic ports), configured and started.

    ``@pytest.mark.requires("cap", ...)`` turns a missing capability into a SKIP naming the device.
    """
    _needs_pool(harness)
    topo = harness.topology()
    _apply_requires(request, topo)
    return topo


@pytest.fixture
def topology_of(request, harness):
    """Factory: ``topology_of("tap", queues=4)``; on --nic runs it returns the NIC ports, with the
    profile's queues whatever ``queues`` says (read them from ``topo.port_conf``)."""

    def make(kind: str | None = None, *, queues: int | None = None):
        _needs_pool(harness)
        topo = harness.topology(kind, queues=queues)
        _apply_requires(request, topo)
        return topo

    return make


class Recorder:
    """Records measured figures: into JUnit (user_properties) and the terminal summary table."""

    def __init__(self, item, sess: HarnessSession):
        self.item, self.sess = item, sess

    def __call__(self, name: str, value: float, *, unit: str = "", target: float | None = None,
                 op: str = ">=", **extra) -> Figure:
        passed = None
        if target is not None:
            passed = value >= target if op == ">=" else value <= target
        fig = Figure(self.item.nodeid, name, float(value), unit, target, op, passed, dict(extra))
        self.sess.figures.append(fig)
        props = self.item.user_properties
        props.append((name, f"{value:.6g}"))
        if unit:
            props.append((f"{name}.unit", unit))
        if target is not None:
            props.append((f"{name}.target", f"{op} {target:.6g}"))
        for k, v in extra.items():
            props.append((f"{name}.{k}", str(v)))
        return fig

    def histogram(self, name: str, buckets, *, unit: str = "us", **facts) -> None:
        """Keep a histogram for the reports (an HdrHistogram ``.hgrm`` export): ``buckets`` are
        ``(low, high, count)`` in ``unit``; ``facts`` (frame_size, path, min, max, ...) go along."""
        self.sess.histograms.append({"test": self.item.nodeid, "name": name, "unit": unit,
                                     "buckets": [[float(lo), float(hi), int(n)] for lo, hi, n in buckets if n],
                                     **facts})


@pytest.fixture
def measure(request) -> Recorder:
    """``measure("wire_pps", 1.2e6, unit="pps", target=1e6)`` records a figure and its target."""
    return Recorder(request.node, _session(request.config))
