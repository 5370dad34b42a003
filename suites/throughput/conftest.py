"""Fixtures of the throughput suite: the DUT path frames go through, the search settings, per-trial
progress, and the NDR of each frame size, found once per run and shared by the checks that need it.

DUT modes (``measure.dut``):
  * ``ports`` (default): the profile's own ports. Two ports joined by a wire (a ring wire here, a
    loopback cable on hardware): generate on the first, receive on the second. One NIC port in
    internal loopback (``ports.loopback = "internal"``): generate and receive on it.
  * ``testpmd-memif``: an external DPDK application is the DUT: ``dpdk-testpmd`` forwards, in its own
    process, between it and a ``net_memif`` port of ours.
"""
from __future__ import annotations

import contextlib
import math
import os
import time

import pytest

from harness import capabilities, perf
from harness.errors import HarnessError
from harness.system import testpmd


@pytest.fixture(scope="session")
def search_profile(profile) -> perf.SearchProfile:
    """The profile's search (``measure.search``), with ``measure.trial_s`` if given."""
    return perf.SEARCH_PROFILES[profile.measure.search].with_trial(profile.measure.trial_s)


class SearchProgress:
    """One line per search trial of a frame size: ``trial 7/≈20, 64B, 12.3 Mpps, ETA 40 s (...)``.

    The total is an estimate: the searches still to run (``searches``: the repeats, each an NDR search
    and its PDR search) times the trials a search took so far (before the first ends: the bisection
    steps from the upper bound down to the width, and a few for the PDR); the ETA is that many trials
    at the mean wall time of a trial so far.
    """

    def __init__(self, write, label: str, *, searches: int, width: float, detail: bool = False):
        self.write, self.label, self.detail = write, label, detail
        self.searches, self.width = searches, width
        self.done = 0
        self.search_no = 0
        self.started = False
        self.per_search: list[int] = []
        self.in_search = 0
        self.lo = self.hi = None
        self.start = time.monotonic()

    def _estimate_left(self) -> int:
        guess = (sum(self.per_search) / len(self.per_search) if self.per_search
                 else 4 + math.ceil(math.log2(1 / self.width)))
        if self.lo and self.hi and self.hi > self.lo:
            here = max(1, math.ceil(math.log2((self.hi - self.lo) / (self.width * self.hi)))) \
                if self.hi - self.lo > self.width * self.hi else 0
        else:
            here = max(1, round(guess) - self.in_search)
        return here + round(guess * max(0, self.searches - self.search_no - 1))

    def search(self, name: str):
        """The per-trial callback of the next search (perf.search's ``progress``)."""
        if self.started:
            self.per_search.append(self.in_search)
            self.search_no += 1
        self.started = True
        self.in_search, self.lo, self.hi = 0, None, None

        def line(trial: perf.TrialResult, state: str) -> None:
            if state.startswith(("pass", "FAIL")):
                self.done += 1
                self.in_search += 1
                if state.startswith("pass"):
                    self.lo = max(self.lo or 0.0, trial.rate)
                elif self.hi is None or trial.rate < self.hi:
                    self.hi = trial.rate
            left = self._estimate_left()
            per = (time.monotonic() - self.start) / self.done if self.done else 0.0
            eta = f", ETA {per * left:.0f} s" if self.done else ""
            what = ("tester stalled: repeated" if state.startswith("tester stalled") else
                    "tester ceiling, unpaced" if state.startswith("tester ceiling") else state.split(",")[0])
            rate = trial.rate or trial.offered_pps
            text = f"  trial {self.done}/≈{self.done + left}, {self.label}, {rate / 1e6:.1f} Mpps{eta} ({name}: {what})"
            if self.detail:
                text += f"\n      {trial.line()}; {state}"
            self.write(text)

        return line


@pytest.fixture
def progress(request, search_profile, profile):
    """``progress(label)`` -> a :class:`SearchProgress` printing one line per trial on the terminal, for
    long searches (trials of 1 s and more, e.g. ``measure.search = "rfc2544"``) or with ``-v`` (the trial's
    counts too with ``-vv``); None otherwise."""
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    verbose = request.config.option.verbose
    show = tr is not None and (verbose > 0 or (search_profile.trial_s >= 1.0 and verbose >= 0))

    def write(text: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            tr.ensure_newline()
            tr.write_line(text)

    def make(label: str) -> SearchProgress | None:
        if not show:
            return None
        return SearchProgress(write, label, searches=profile.measure.repeats, width=search_profile.width,
                              detail=verbose > 1)

    return make


def _testpmd_cpu(eal, harness) -> int | None:
    """A CPU for dpdk-testpmd that no worker lcore of ours runs on (the main lcore's, Python's, is fine:
    it sleeps while traffic runs)."""
    lcores = eal.lcores()
    worker_cpus = {lc["cpu_id"] for lc in lcores if not lc["is_main"]}
    main = [lc["cpu_id"] for lc in lcores if lc["is_main"]]
    for cpu in main + sorted(set(range(os.cpu_count() or 1)) - worker_cpus):
        if cpu not in worker_cpus and cpu >= 0:
            return cpu
    return None


def open_memif_dut(harness, eal, profile) -> perf.DutPath:
    """dpdk-testpmd over memif as the DUT, or a SKIP naming why it cannot run here."""
    if testpmd.testpmd_path() is None:
        pytest.skip("dpdk-testpmd not found: the external-application DUT needs it (apt-get install dpdk)")
    cpu = _testpmd_cpu(eal, harness)
    if cpu is None:
        pytest.skip(f"no CPU for dpdk-testpmd: every CPU runs a worker lcore of ours (eal.lcores "
                    f"{profile.eal.lcores_arg()}); testpmd's forwarding lcore would share a CPU with a busy-polling "
                    "worker and both would measure the kernel's scheduler. Leave one CPU to the main lcore")
    try:
        return perf.memif_testpmd(harness.require_pool(), harness.journal, testpmd_cpu=cpu,
                                  burst=profile.queues.burst, rx_desc=profile.queues.rx_desc,
                                  tx_desc=profile.queues.tx_desc)
    except HarnessError as exc:
        if "rte_vdev_init" in str(exc):
            pytest.skip(f"net_memif is not available to this DPDK: {exc}")
        raise


@pytest.fixture(scope="session")
def memif_dut(harness, eal, profile):
    """dpdk-testpmd forwarding over memif, for the run (started on first use, stopped at the end)."""
    path = open_memif_dut(harness, eal, profile)
    yield path
    problems = path.close()
    assert not problems, "; ".join(problems)


def ports_dut(harness, profile) -> perf.DutPath:
    """The profile's ports as the DUT path, or a SKIP naming what is missing."""
    harness.require_pool()
    topo = harness.topology()
    link = None
    if topo.kind == "nic":
        speed = topo.tx.link().get("speed_mbps") or 0
        link = profile.targets.link_gbps or (speed / 1000 if speed else None)
    if profile.ports.nic_mode and profile.ports.loopback == "internal":
        port = topo.ports[0]
        return perf.DutPath("internal-loopback", port, port, f"{port.name} ({port.driver}) in PMD internal "
                            f"loopback (lpbk_mode {profile.ports.lpbk_mode})",
                            rx_queues=topo.port_conf.nb_rxq, link_gbps=link)
    reason = capabilities.missing(topo, "wire")
    if reason:
        pytest.skip(reason)
    return perf.DutPath("wire", topo.tx, topo.rx, f"{topo.describe_ports()}: {topo.description}",
                        rx_queues=topo.port_conf.nb_rxq, pending=topo.pending,
                        link_gbps=link if link and 1 <= link <= 400 else None)


@pytest.fixture(scope="session")
def dut_path(request, harness, eal, profile) -> perf.DutPath:
    """What the throughput checks measure through, as ``measure.dut`` says."""
    if profile.measure.dut == "testpmd-memif":
        return request.getfixturevalue("memif_dut")
    return ports_dut(harness, profile)


class ThroughputCache:
    """The search result of each frame size, found once per run (the NDR check finds it, the latency
    check measures at a fraction of it)."""

    def __init__(self):
        self.results: dict[tuple, list[perf.Throughput]] = {}

    def get(self, key):
        return self.results.get(key)


@pytest.fixture(scope="session")
def throughput_cache() -> ThroughputCache:
    return ThroughputCache()


@pytest.fixture
def find_throughput(harness, dut_path, pool, worker, profile, search_profile, throughput_cache, progress):
    """``find_throughput(frame_size)`` -> the ``measure.repeats`` searches (NDR, and PDR at
    ``measure.pdr_loss``) of that frame size through the DUT path; cached for the run.

    With a second worker lcore in the profile the receivers loop there, the generator on the first:
    the tester's ceiling then rises with the cores (each result's ``placement`` says which lcore did what)."""
    workers = harness.worker_lcores()
    rx_lcore = workers[1] if len(workers) > 1 else None

    def find(frames) -> list[perf.Throughput]:
        label = perf.frames_label(frames)
        key = (label, dut_path.mode, profile.queues.burst)
        cached = throughput_cache.get(key)
        if cached is not None:
            return cached
        tester = dut_path.tester(worker, pool, burst=profile.queues.burst, flows=profile.rss.flows,
                                 frames=frames, drain_s=search_profile.drain_s, rx_lcore=rx_lcore)
        line_rate = perf.line_rate_pps(dut_path.link_gbps, frames) if dut_path.link_gbps else None
        goal = profile.targets.loss or profile.measure.pdr_loss  # the verdict's loss ratio, else the PDR's
        results, ceiling = [], None
        shown = progress(label)
        for i in range(profile.measure.repeats):
            res = perf.throughput(tester, search_profile, line_rate=line_rate, pdr_loss=goal,
                                  warmup_s=profile.measure.warmup_s, ceiling=ceiling,
                                  progress=shown.search(f"search {i + 1}/{profile.measure.repeats}")
                                  if shown else None)
            ceiling = res.ceiling
            results.append(res)
        throughput_cache.results[key] = results
        return results

    return find
