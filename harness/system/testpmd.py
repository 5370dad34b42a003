"""``dpdk-testpmd`` as a child process: the external DPDK application the harness drives (a DUT, and
the benchmarks' reference).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from harness.errors import HarnessError

# ---------------------------------------------------------------- dpdk-testpmd

TESTPMD = "dpdk-testpmd"
RUNTIME_BASE = "/var/run/dpdk"


def testpmd_path() -> str | None:
    return shutil.which(TESTPMD)


@dataclass
class PortStats:
    rx: int
    tx: int
    rx_missed: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_nombuf: int = 0
    rx_pps: int = 0
    tx_pps: int = 0


_PORT_BLOCK = re.compile(r"NIC statistics for port (\d+)\s*#+(.*?)#{20,}", re.S)


def parse_port_stats(text: str) -> dict[int, PortStats]:
    """``show port stats all`` output -> {port: PortStats}."""
    out = {}
    for m in _PORT_BLOCK.finditer(text):
        body = m.group(2)

        def num(label: str) -> int:
            f = re.search(rf"{label}:\s*(\d+)", body)
            return int(f.group(1)) if f else 0

        out[int(m.group(1))] = PortStats(rx=num("RX-packets"), tx=num("TX-packets"), rx_missed=num("RX-missed"),
                                         rx_errors=num("RX-errors"), tx_errors=num("TX-errors"),
                                         rx_nombuf=num("RX-nombuf"), rx_pps=num("Rx-pps"), tx_pps=num("Tx-pps"))
    return out


class Testpmd:
    """``dpdk-testpmd -i`` as a child process driven through its prompt.

    Always ``--no-pci`` (it never probes PCI devices), its own ``--file-prefix``, and no files of
    its own: ``--in-memory`` with hugepages, ``--no-huge --no-shconf`` without; ``close()`` quits it
    (kills it if it hangs) and removes its runtime dir if EAL made one.
    It also dies with us: its stdin is our pipe (EOF quits testpmd) and PR_SET_PDEATHSIG.
    """

    PROMPT = "testpmd> "

    def __init__(self, *, lcores: str, vdevs: Sequence[str], app_args: Sequence[str] = (), memory_mb: int = 256,
                 hugepages: bool = False, huge_dir: str | None = None, prefix: str | None = None,
                 log_level: str = "notice", journal=None, eal_args: Sequence[str] = ()):
        path = testpmd_path()
        if path is None:
            raise HarnessError("dpdk-testpmd not found; install it with apt-get install dpdk")
        self.prefix = prefix or f"dh-tp-{os.getpid()}-{secrets.token_hex(3)}"
        eal = [path, "--lcores", lcores, "--file-prefix", self.prefix, "--no-pci", f"--log-level={log_level}"]
        if hugepages:
            eal += ["--in-memory", "-m", str(memory_mb)] + (["--huge-dir", huge_dir] if huge_dir else [])
        else:  # --in-memory does not go with --no-huge (legacy memory): no shared config files instead
            eal += ["--no-huge", "--no-shconf", "-m", str(memory_mb)]
        for v in vdevs:
            eal += ["--vdev", v]
        pci = [a for a in eal_args if a.split("=", 1)[0] in ("-a", "--allow", "-b", "--block", "-w", "--pci-whitelist")
               or (a.startswith("-a") and not a.startswith("--"))]
        if pci:
            raise HarnessError(f"dpdk-testpmd: {pci[0]!r} in eal_args: this launcher never lets EAL near PCI devices "
                               "(--no-pci); use vdevs")
        eal += list(eal_args)  # e.g. --no-telemetry
        # testpmd prints through stdio: line-buffer it, or a pipe holds command output until exit
        stdbuf = shutil.which("stdbuf")
        self.argv = ([stdbuf, "-oL", "-eL"] if stdbuf else []) + eal + ["--", "-i", *app_args]
        self.runtime_dir = os.path.join(RUNTIME_BASE, self.prefix)
        if journal is not None:
            if not os.path.isdir(RUNTIME_BASE):  # testpmd's EAL creates it: remove it again once empty
                journal.record("empty_dir", path=RUNTIME_BASE)
            journal.record("dir", path=self.runtime_dir)
        self._buf = ""
        self._cv = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True, name="testpmd-reader")
        self._reader.start()
        try:
            self._until_prompt(timeout_s=30.0, what="start")
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cv:
                if not chunk:
                    self._eof = True
                    self._cv.notify_all()
                    return
                self._buf += chunk.decode(errors="replace")
                self._cv.notify_all()

    def _until_prompt(self, timeout_s: float, what: str) -> str:
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self.PROMPT not in self._buf:
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    tail = " | ".join(self._buf.strip().splitlines()[-6:])
                    state = f"exited with status {self._status()}" if self._eof else f"no prompt in {timeout_s:g}s"
                    raise HarnessError(f"dpdk-testpmd ({what}): {state}; last output: {tail}")
                self._cv.wait(min(left, 0.1))
            out, _, self._buf = self._buf.partition(self.PROMPT)
            return out

    def _status(self):
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def cmd(self, line: str, timeout_s: float = 10.0) -> str:
        """Run one testpmd command; returns what it printed."""
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self._until_prompt(timeout_s, line)

    def run_delay_s(self) -> float:
        """Seconds testpmd's threads have spent runnable but waiting for a CPU (preempted), so far."""
        from harness.system.procfs import threads_run_delay_s
        return threads_run_delay_s(self.proc.pid)

    def port_stats(self) -> dict[int, PortStats]:
        return parse_port_stats(self.cmd("show port stats all"))

    def output(self) -> str:
        with self._cv:
            return self._buf

    def close(self) -> list[str]:
        """Quit (or kill) testpmd and remove its runtime directory; returns problems."""
        problems = []
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"stop\nquit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"dpdk-testpmd (pid {self.proc.pid}) did not quit in 10 s: killed")
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=2)
        if os.path.isdir(self.runtime_dir):
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if os.path.isdir(self.runtime_dir):
            problems.append(f"cannot remove {self.runtime_dir}")
        return problems

    def __enter__(self) -> "Testpmd":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass
