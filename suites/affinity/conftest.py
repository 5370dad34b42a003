"""Fixtures of the affinity suite: every EAL lcore's thread, read once, and one loaded window.

Both are session-scoped so the suite pays for them once: reading the threads takes a few tens of
milliseconds, the loaded window ``measure.duration_s``.
"""
from __future__ import annotations

import os

import pytest

from harness import affinity, traffic
from harness.probe import Task
from harness.system import inventory

#: how long each lcore's thread samples sched_getcpu() when it is read (busy, like a poll loop)
SAMPLE_US = 20_000


@pytest.fixture(scope="session")
def host_cpus() -> set[int]:
    """The host's online CPUs: what a fix may map lcores to."""
    return inventory.online_cpus(os.environ.get("DPDK_HARNESS_SYS_ROOT", "/sys"))


@pytest.fixture(scope="session")
def lcore_threads(eal) -> dict[int, affinity.LcoreThread]:
    """Every EAL lcore's thread (main, workers, service lcores), read from inside and outside."""
    return affinity.lcore_threads([lc["lcore_id"] for lc in eal.lcores()], sample_us=SAMPLE_US)


@pytest.fixture(scope="session")
def worker_threads(lcore_threads) -> list[affinity.LcoreThread]:
    return [t for t in lcore_threads.values() if not t.is_main]


@pytest.fixture(scope="session")
def load_sample(harness, pool, worker, lcore_threads, profile) -> affinity.LoadSample:
    """Every worker busy at once for measure.duration_s: traffic (generate + receive on the profile's
    ports) on the harness's worker lcore, a spin loop on each other worker."""
    topo = harness.topology()
    tasks = [Task.gen(topo.tx)] + traffic.sink_tasks(topo)
    try:
        return affinity.observe_under_load(lcore_threads, worker, tasks, profile.measure.duration_s, pool=pool,
                                           burst=profile.queues.burst, flows=profile.rss.flows)
    finally:
        traffic.drain(topo, worker)
