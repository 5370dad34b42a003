"""Applications under audit for the tests: real dpdk-testpmd instances on vdevs, fed and torn down here.

Every instance runs through the harness's own launcher (harness/perf.py ``Testpmd``: --no-pci always,
its own --file-prefix, runtime directory and tap link journalled, dies with us); with hugepages, the
pages are reserved through the journal and given back at the end. Traffic goes into net_tap's kernel
side (AF_PACKET, 198.18.0.0/15 only) from a thread, and a "busy neighbour" is a process of ours that
spins on a CPU. Nothing here touches a device the test did not create.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time

from harness.system import hugepages
from harness.system.journal import Journal
from harness.system.testpmd import Testpmd

HUGEPAGE_KB = 2048
MEMORY_MB = 64
PAGES = MEMORY_MB * 1024 // HUGEPAGE_KB + 8


def _disable_ipv6(ifname: str) -> None:
    try:
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("1")
    except OSError:
        pass


class AuditedApp:
    """One dpdk-testpmd forwarding (io mode) on vdevs; ``with AuditedApp(...) as app: app.pid``."""

    def __init__(self, *, lcores: str = "0@0,1@1", tap_queues: int = 0, null_pair: bool = False,
                 mbufs: int = 4096, app_args=(), hugepages_: bool = True, eal_extra=(), prefix: str | None = None,
                 start: bool = True):
        self.journal = Journal()
        self.ifname = None
        self.tp = None
        self._feeders: list[threading.Thread] = []
        self._stop = threading.Event()
        self._spinners: list[subprocess.Popen] = []
        vdevs = []
        if tap_queues:
            self.ifname = f"dha{os.getpid() % 10000}{secrets.token_hex(2)}"[:15]
            self.journal.record("link", name=self.ifname, netns=None)  # the kernel drops it with testpmd
            vdevs.append(f"net_tap0,iface={self.ifname}")
        if null_pair or not tap_queues:
            vdevs += ["net_null0", "net_null1"]
        q = max(1, tap_queues)
        args = ["--forward-mode=io", f"--rxq={q}", f"--txq={q}", f"--total-num-mbufs={mbufs}", *app_args]
        try:
            if hugepages_:
                hugepages.ensure_free(self.journal, HUGEPAGE_KB, PAGES)
            self.tp = Testpmd(lcores=lcores, vdevs=vdevs, app_args=args, hugepages=hugepages_, memory_mb=MEMORY_MB,
                              journal=self.journal, prefix=prefix, eal_args=eal_extra)
            if self.ifname:
                _disable_ipv6(self.ifname)
            if start:
                self.tp.cmd("start")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.tp.proc.pid

    @property
    def prefix(self) -> str:
        return self.tp.prefix

    def feed(self, *, flows: int, seconds: float, rate_pps: int = 20000) -> None:
        """Send UDP frames of ``flows`` flows into the tap from the kernel side, in a thread, for ``seconds``."""
        from harness import probe

        count = int(rate_pps * seconds)

        def run():
            with contextlib.suppress(Exception):
                probe.inject(self.ifname, count, flows=flows, frame_size=64, rate_pps=rate_pps)

        t = threading.Thread(target=run, daemon=True, name="audit-feed")
        t.start()
        self._feeders.append(t)

    def spin_on(self, cpu: int) -> subprocess.Popen:
        """A busy neighbour of ours: a process spinning on ``cpu`` until the app is closed."""
        code = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
        p = subprocess.Popen([sys.executable, "-c", code])
        self._spinners.append(p)
        return p

    def close(self) -> list[str]:
        problems = []
        for p in self._spinners:
            p.kill()
            p.wait(timeout=10)
        for t in self._feeders:
            t.join(timeout=60)
        if self.tp is not None:
            problems += self.tp.close()
        problems += self.journal.undo_all()
        return problems

    def __enter__(self) -> "AuditedApp":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for_socket(app: AuditedApp, timeout_s: float = 10.0) -> None:
    from harness.system import telemetry

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if telemetry.sockets_of(app.pid):
            return
        time.sleep(0.1)


BOOT_RETRIES = 3


def start_app(*, wait_socket: bool = True, **kw) -> AuditedApp:
    """An :class:`AuditedApp`, retried when another run on this shared host took the hugepages between
    our reservation and testpmd's EAL start."""
    from harness.errors import HarnessError

    for attempt in range(BOOT_RETRIES):
        try:
            app = AuditedApp(**kw)
            if wait_socket:
                wait_for_socket(app)
            return app
        except HarnessError as exc:
            text = str(exc)
            if attempt + 1 == BOOT_RETRIES or not any(s in text for s in ("hugepage", "Cannot allocate memory",
                                                                           "Cannot init EAL")):
                raise
            time.sleep(2.0)
    raise AssertionError("unreachable")
