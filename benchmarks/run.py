#!/usr/bin/env python3
"""The probe's loops beside dpdk-testpmd's, measured in interleaved windows on the same vdevs, lcores and burst.

    sudo python benchmarks/run.py [--pairs 120] [--window 0.1] [--warmup 0.05] [--steady 0.1] [--instances 10]
                                  [--burst 32]
                                  [--lcores 0@0,1@1] [--only fwd,gen,sink,path] [--runs 1] [--json FILE]

Two processes stay up side by side: dpdk-testpmd (interactive, its own EAL) and a harness session of ours
(a child of this script, profiles/vdev.toml with --lcores). Their worker lcores only busy-poll while a window
is open, and only one side's window is open at a time: testpmd, ours, testpmd, ours ... (~0.3 s per pair).
Each window starts the loop, discards --warmup seconds, then counts packets over --window seconds per second
of CPU the loop got (other work on the host takes the CPU away from either side). Each window is then set
against the mean of the two windows of the other side around it (a bracket): a drift of the host's speed
cancels. A shared VM also changes speed in steps, by up to 1.5x for seconds (other tenants on the physical
core): a window whose two neighbours differ by more than --steady may straddle a step and is left out of the
figure (kept in the JSON). Where a process's memory landed also moves its loops, for its whole life (one in
ten of our sessions forwards 0.7x on net_null until it is given a new mbuf pool): so the --pairs are shared
out over --instances fresh pairs of processes per device set. The figure of a comparison is the median of
the steady brackets' ratios ours / testpmd, with its quartiles and the range of the per-instance medians.

| comparison | testpmd | ours |
| fwd  (null, ring) | io (ring: start tx_first, each window) | PROBE_MODE_FWD tasks, 0 -> 1 and 1 -> 0 (probe.c) |
| gen  64 B, 1518 B | txonly, --txpkts 60 / 1514 on net_null | PROBE_MODE_GEN on both ports |
| sink 64 B, 1518 B | rxonly on net_null size=60 / 1514 | PROBE_MODE_SINK on both ports |
| path | - | gen -> ring wire -> fwd -> ring wire -> sink, pps per lcore, which lcore did what |
Also reported, not judged: perf.c's plain forwarder, generator and receiver (the throughput suite's).

Cycles per packet = TSC cycles of the one busy lcore per packet (TSC measured against CLOCK_MONOTONIC_RAW).
testpmd runs with --no-pci, --in-memory, its own --file-prefix; its runtime dir is removed after; the
hugepages reserved for it are journalled and given back. Timing is reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VDEVS = {  # frame sizes as the harness counts them (FCS included): 64 B = 60 bytes in the mbuf
    "null64": [("net_null0", "size=60,copy=0"), ("net_null1", "size=60,copy=0")],
    "null1518": [("net_null0", "size=1514,copy=0"), ("net_null1", "size=1514,copy=0")],
    "ring": [("net_ring0", "nodeaction=net_ring0:0:CREATE"), ("net_ring1", "nodeaction=net_ring1:0:CREATE")],
}
# (name, vdev set, testpmd mode, tx packet length, our loop, frame size, judged)
COMPARISONS = [
    ("fwd null", "null64", "io", 60, "run_fwd", 64, True),
    ("fwd null (perf.c plain)", "null64", "io", 60, "perf_fwd", 64, False),
    ("gen 64B", "null64", "txonly", 60, "run_gen", 64, True),
    ("gen 64B (perf.c)", "null64", "txonly", 60, "perf_gen", 64, False),
    ("gen 1518B", "null1518", "txonly", 1514, "run_gen", 1518, True),
    ("sink 64B", "null64", "rxonly", 60, "run_sink", 64, True),
    ("sink 64B (perf.c recv)", "null64", "rxonly", 60, "perf_recv", 64, False),
    ("sink 1518B", "null1518", "rxonly", 1514, "run_sink", 1518, True),
    ("fwd ring", "ring", "io", 60, "run_fwd", 64, True),
    ("fwd ring (perf.c plain)", "ring", "io", 60, "perf_fwd", 64, False),
]
#: a window whose loop got less CPU than this is not counted (nor the brackets it is in): too little to measure
MIN_CPU_S = 0.01
#: fewer steady brackets than this in a comparison: the host changed speed too often to measure
MIN_BRACKETS = 7
PREFIXES: list[str] = []  # testpmd's file prefixes: their runtime dirs must be gone at the end


# ---------------------------------------------------------------- CPU time of a busy lcore

def lcore_tid(pid, lcore: int) -> int:
    """The thread of EAL worker ``lcore`` in process ``pid`` (procfs.LCORE_WORKER_NAMES: rte-worker-N on 22.11)."""
    from harness.system.procfs import worker_lcore_of

    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if worker_lcore_of(pathlib.Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()) == lcore:
                return int(tid)
        except OSError:
            continue
    raise RuntimeError(f"no worker thread of lcore {lcore} in process {pid}")


def _schedstat_s(pid, tid) -> float:
    return int(pathlib.Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]) / 1e9


def on_cpu_s(pid, tid: int) -> float:
    """Seconds the busy thread ``tid`` has run on a CPU (time the kernel gave to other work excluded).

    A running thread's schedstat lags by up to a scheduler tick (4 ms at HZ=250), too coarse for short
    windows on a loaded host; the process's CPU clock is exact. So: the process's CPU time less that of
    its other threads, which sleep (exact schedstat) while this is read: a DPDK process's other threads
    are its idle EAL helpers and its main thread, which waits for commands (testpmd) or is this one."""
    if pid == "self":
        total, mine = time.process_time(), time.thread_time()
        me = threading.get_native_id()
    else:
        total, mine, me = time.clock_gettime(((~int(pid)) << 3) | 2), 0.0, None  # CPUCLOCK_SCHED of pid
    others = 0.0
    for t in os.listdir(f"/proc/{pid}/task"):
        if int(t) in (tid, me):
            continue
        try:
            others += _schedstat_s(pid, t)
        except OSError:
            continue
    return total - mine - others


class CpuClock:
    """Readings of a busy lcore's on-CPU time taken around a counter read: their midpoint goes with it."""

    def __init__(self, pid, tid: int):
        self.pid, self.tid = pid, tid

    def around(self, read):
        c0 = on_cpu_s(self.pid, self.tid)
        t0 = time.monotonic()
        value = read()
        t1 = time.monotonic()
        c1 = on_cpu_s(self.pid, self.tid)
        return value, (t0 + t1) / 2, (c0 + c1) / 2


def rates(pkts: int, wall_s: float, cpu_s: float) -> dict:
    """pps over the wall-clock window, and over the time the loop was on its CPU (the judged figure:
    other work on the host takes the CPU away from either side for milliseconds at a time)."""
    return {"pkts": pkts, "seconds": wall_s, "cpu_s": cpu_s, "wall_pps": pkts / wall_s if wall_s > 0 else 0.0,
            "pps": pkts / cpu_s if cpu_s > 0 else 0.0, "on_cpu": cpu_s / wall_s if wall_s > 0 else 0.0}


# ---------------------------------------------------------------- our side: a child serving windows

class Ours:
    """A harness session with one vdev set, running one kind of loop per window (in the child)."""

    def __init__(self, vset: str | None, burst: int, lcores: str):
        from harness import perf, probe
        from harness.profile import load_profile
        from harness.session import HarnessSession

        self.perf, self.probe, self.burst = perf, probe, burst
        prof = load_profile(ROOT / "profiles" / "vdev.toml").with_overrides(lcores=lcores)
        self.sess = HarnessSession(prof)
        self.sess.start()
        self.workers = self.sess.worker_lcores()
        self.hz = perf.measured_tsc_hz()
        self.ports, self.names, self.seeded = [], [], False
        self.clocks: dict[int, CpuClock] = {}
        self.vset = vset
        if vset:
            for name, args in VDEVS[vset]:
                port = probe.vdev_create(name, args)
                port.configure(probe.PortConf(rx_desc=1024, tx_desc=1024), self.sess.pool)
                port.start()
                self.ports.append(port)
                self.names.append(name)

    def _seed(self) -> None:
        """ring: one burst per port circulates for ever (testpmd's start tx_first)."""
        if self.vset == "ring" and not self.seeded:
            probe, (p0, p1) = self.probe, self.ports
            with probe.Run(self.workers[0], [probe.Task.gen(p0), probe.Task.gen(p1)], burst=self.burst,
                           pool=self.sess.pool, count=self.burst) as run:
                run.wait_generated(2)
            self.seeded = True

    def _start(self, kind: str, frame: int):
        probe, perf, w = self.probe, self.perf, self.workers[0]
        p0, p1 = self.ports
        if kind == "run_fwd":
            self._seed()
            return probe.Run(w, [probe.Task.fwd(p0, p1), probe.Task.fwd(p1, p0)], burst=self.burst)
        if kind == "run_gen":
            return probe.Run(w, [probe.Task.gen(p0), probe.Task.gen(p1)], burst=self.burst, pool=self.sess.pool,
                             frame_size=frame, flows=1024)
        if kind == "run_sink":
            return probe.Run(w, [probe.Task.sink(p0), probe.Task.sink(p1)], burst=self.burst)
        if kind == "perf_fwd":
            self._seed()
            return perf.PerfRun(w, [perf.PerfTask.dut(p0, p1), perf.PerfTask.dut(p1, p0)], burst=self.burst,
                                tsc_hz=self.hz)
        if kind == "perf_gen":
            return perf.PerfRun(w, [perf.PerfTask.gen(p0, flows=1024, frames=frame, seq_base=1,
                                                      lat_sample=perf.model.LAT_SAMPLE),
                                    perf.PerfTask.gen(p1, flows=1024, frames=frame, seq_base=1 << 40,
                                                      lat_sample=perf.model.LAT_SAMPLE)],
                                burst=self.burst, pool=self.sess.pool, tsc_hz=self.hz)
        if kind == "perf_recv":
            return perf.PerfRun(w, [perf.PerfTask.recv(p0), perf.PerfTask.recv(p1)], burst=self.burst,
                                tsc_hz=self.hz)
        raise ValueError(kind)

    @staticmethod
    def _count(kind: str, st) -> tuple[int, float]:
        if kind.startswith("run_"):
            key = {"run_fwd": "tx_pkts", "run_gen": "tx_pkts", "run_sink": "rx_pkts"}[kind]
            return st.total(key), st.elapsed_s
        key = {"perf_fwd": "dut_tx", "perf_gen": "sent", "perf_recv": "rx_pkts"}[kind]
        return sum(t[key] for t in st["tasks"]), st["elapsed_s"]

    def clock(self, lcore: int) -> CpuClock:
        if lcore not in self.clocks:
            self.clocks[lcore] = CpuClock("self", lcore_tid("self", lcore))
        return self.clocks[lcore]

    def window(self, kind: str, frame: int, warmup: float, seconds: float) -> dict:
        run = self._start(kind, frame)
        clock = self.clock(self.workers[0])
        try:
            time.sleep(warmup)
            a, _, ca = clock.around(lambda: self._count(kind, run.stats()))
            time.sleep(seconds)
            b, _, cb = clock.around(lambda: self._count(kind, run.stats()))
        finally:
            run.stop()
        return rates(b[0] - a[0], b[1] - a[1], cb - ca)

    def path(self, frame: int, warmup: float, seconds: float) -> dict:
        """gen -> wire -> fwd -> wire -> sink; with 3+ workers each on its own lcore."""
        probe = self.probe
        w1 = probe.ring_wire_create("bpw1", 1, 1024)
        w2 = probe.ring_wire_create("bpw2", 1, 1024)
        ports = [*w1, *w2]
        try:
            for port in ports:
                port.configure(probe.PortConf(rx_desc=1024, tx_desc=1024), self.sess.pool)
                port.start()
            gen = probe.Task.gen(w1[0])
            fwd = probe.Task.fwd(w1[1], w2[0])
            sink = probe.Task.sink(w2[1])
            ws = self.workers
            if len(ws) >= 3:
                plan = [(ws[0], ["gen"], [gen]), (ws[1], ["fwd"], [fwd]), (ws[2], ["sink"], [sink])]
            elif len(ws) == 2:
                plan = [(ws[0], ["gen", "sink"], [gen, sink]), (ws[1], ["fwd"], [fwd])]
            else:
                plan = [(ws[0], ["gen", "fwd", "sink"], [gen, fwd, sink])]
            runs = []
            try:
                for lcore, _, tasks in plan:
                    runs.append(probe.Run(lcore, tasks, burst=self.burst, pool=self.sess.pool, frame_size=frame,
                                          flows=1024))
                clocks = [self.clock(lcore) for lcore, _, _ in plan]
                time.sleep(warmup)
                a = [c.around(r.stats) for c, r in zip(clocks, runs)]
                time.sleep(seconds)
                b = [c.around(r.stats) for c, r in zip(clocks, runs)]
            finally:
                for r in runs:
                    r.stop()
            lanes = []
            for (lcore, roles, _), (sa, _, ca), (sb, _, cb) in zip(plan, a, b):
                wall = sb.elapsed_s - sa.elapsed_s
                # one lane: per second on its CPU (as the comparisons); lanes on CPUs of their own: wall time
                secs = cb - ca if len(plan) == 1 else wall
                tasks = []
                for role, ta, tb in zip(roles, sa.tasks, sb.tasks):
                    d = {k: tb[k] - ta[k] for k in ("rx_pkts", "tx_pkts", "tx_unsent", "rx_polls", "rx_empty_polls",
                                                    "rx_ours", "alloc_fail")}
                    d["role"] = role
                    tasks.append(d)
                lanes.append({"lcore": lcore, "roles": roles, "seconds": secs, "tasks": tasks,
                              "on_cpu": (cb - ca) / wall if wall > 0 else 0.0})
            by_role = {t["role"]: (t, lane) for lane in lanes for t in lane["tasks"]}
            sink_t, sink_lane = by_role["sink"]
            fwd_t, fwd_lane = by_role["fwd"]
            gen_t, gen_lane = by_role["gen"]
            pps = sink_t["rx_ours"] / sink_lane["seconds"]
            idle = {role: (t["rx_empty_polls"] / t["rx_polls"] if t["rx_polls"] else None)
                    for role, (t, _) in by_role.items()}
            shared = fwd_lane["lcore"] in (gen_lane["lcore"], sink_lane["lcore"])
            cpu_of = {lc["lcore_id"]: lc["cpu_id"] for lc in self.sess.eal.lcores()}
            cpus = [cpu_of[lane["lcore"]] for lane in lanes]
            for lane in lanes:
                lane["cpu"] = cpu_of[lane["lcore"]]
            # the DUT forwarder waits for the tester (idle polls) while the generator never rests: the
            # figure is the tester's; the wire refusing the generator's frames means the DUT is the limit
            if shared:
                bound = "tester and DUT share lcore %d: the figure is the whole path's cost" % fwd_lane["lcore"]
            elif len(set(cpus)) < len(cpus):
                bound = ("lcores %s share CPUs %s: the kernel's scheduler takes turns between them, the figure "
                         "measures that, not the loops" % ([lane["lcore"] for lane in lanes], cpus))
            elif gen_t["tx_unsent"] > 0.01 * max(1, gen_t["tx_pkts"]):
                bound = "DUT-bound (the wire in front of the forwarder was full)"
            elif (idle["fwd"] or 0) > 0.1:
                bound = "tester-bound (the forwarder was idle %.0f%% of its polls)" % (100 * idle["fwd"])
            else:
                bound = "balanced (neither side idle)"
            return {"pps": pps, "lcores": len(plan), "pps_per_lcore": pps / len(plan), "lanes": lanes,
                    "idle_share": idle, "bound": bound, "frame": frame}
        finally:
            for port in ports:
                port.stop()
            probe.ring_wire_destroy("bpw1")
            probe.ring_wire_destroy("bpw2")

    def close(self) -> list[str]:
        for port in self.ports:
            port.stop()
        for name in self.names:
            self.probe.vdev_destroy(name)
        return self.sess.close()


def serve(vset: str, burst: int, lcores: str) -> int:
    """The child: one JSON command per stdin line, one JSON answer per stdout line."""
    out = sys.stdout
    sys.stdout = sys.stderr  # EAL and the harness print: keep stdout for answers
    ours = Ours(None if vset == "none" else vset, burst, lcores)
    try:
        out.write(json.dumps({"ready": True, "tsc_hz": ours.hz, "workers": ours.workers}) + "\n")
        out.flush()
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            if cmd["op"] == "window":
                ans = ours.window(cmd["kind"], cmd["frame"], cmd["warmup"], cmd["seconds"])
            else:
                ans = ours.path(cmd["frame"], cmd["warmup"], cmd["seconds"])
            out.write(json.dumps(ans) + "\n")
            out.flush()
    finally:
        problems = ours.close()
    out.write(json.dumps({"closed": True, "problems": problems}) + "\n")
    out.flush()
    return 0


def start_child(vset: str, args) -> "Child":
    """Our side; again after a short pause if other runs on the host took the hugepages it reserved."""
    for attempt in range(5):
        try:
            return Child(vset, args)
        except RuntimeError as exc:
            if attempt == 4 or "memory" not in str(exc):
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


class Child:
    def __init__(self, vset: str, args):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", vset, "--burst", str(args.burst),
                                      "--lcores", args.lcores], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        self.hello = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.err.seek(0)
            tail = " | ".join(self.err.read().strip().splitlines()[-3:])
            raise RuntimeError(f"our side exited with status {self.proc.wait()}: {tail}")
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> list[str]:
        try:
            ans = self.ask(op="quit")
            problems = ans.get("problems", [])
        except (OSError, RuntimeError, ValueError) as exc:
            problems = [f"our side: {exc}"]
        self.proc.wait(timeout=30)
        return problems


# ---------------------------------------------------------------- dpdk-testpmd

def testpmd_driver():
    from harness.system import testpmd
    return testpmd


class Theirs:
    def __init__(self, vset: str, args, journal):
        tp = testpmd_driver()
        self.tp = tp.Testpmd(lcores=args.lcores, vdevs=[f"{n},{a}" for n, a in VDEVS[vset]], hugepages=True,
                             memory_mb=128, journal=journal,
                             app_args=["--forward-mode=io", f"--burst={args.burst}", "--nb-cores=1", "--rxq=1",
                                       "--txq=1", "--rxd=1024", "--txd=1024", "--total-num-mbufs=16384"])
        self.vset = vset
        self.worker = int(args.lcores.split(",")[1].split("@")[0])  # the one forwarding lcore (--nb-cores=1)
        self.clock: CpuClock | None = None
        PREFIXES.append(self.tp.prefix)

    def _stats(self) -> tuple[dict, float, float]:
        if self.clock is None:
            self.clock = CpuClock(self.tp.proc.pid, lcore_tid(self.tp.proc.pid, self.worker))
        return self.clock.around(self.tp.port_stats)  # the command's midpoint: its latency cancels out

    def window(self, mode: str, txlen: int, warmup: float, seconds: float) -> dict:
        self.tp.cmd(f"set fwd {mode}")
        if mode == "txonly":
            self.tp.cmd(f"set txpkts {txlen}")
        # testpmd drains its rx queues at every start: on the ring pair one burst per port is seeded each
        # time (ours seeds once and keeps them circulating), so both forward one burst per port
        self.tp.cmd("start tx_first" if self.vset == "ring" else "start")
        try:
            time.sleep(warmup)
            a, ta, ca = self._stats()
            time.sleep(seconds)
            b, tb, cb = self._stats()
        finally:
            self.tp.cmd("stop")
        field = "rx" if mode == "rxonly" else "tx"
        pkts = sum(getattr(b[p], field) - getattr(a[p], field) for p in b)
        return rates(pkts, tb - ta, cb - ca)

    def close(self) -> list[str]:
        return self.tp.close()


# ---------------------------------------------------------------- the comparison

def quantiles(xs: list[float]) -> dict:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "q1": q[0], "q3": q[2], "min": xs[0], "max": xs[-1], "n": len(xs)}


def bracketed(seq: list[tuple[str, dict]], steady: float) -> list[dict]:
    """Each window against the two windows of the other side either side of it (testpmd, ours, testpmd, ...).

    The ratio ours / testpmd of a window is its rate against the mean of its neighbours', so a drift of the
    host's speed that is linear over the three windows cancels. The host of a shared VM also changes speed in
    steps (by up to 1.5x, for seconds: other tenants on the physical core); a window whose two neighbours differ
    by more than ``steady`` (relative, on a log scale) may straddle such a step and is not steady: it is kept
    in the JSON, not in the figure. A window without ``MIN_CPU_S`` of CPU spoils the brackets it is in."""
    out = []
    for k, (side, w) in enumerate(seq):
        if k == 0 or k == len(seq) - 1:
            out.append({"ratio": None, "steady": False, "why": "edge"})
            continue
        left, right = seq[k - 1][1], seq[k + 1][1]
        if min(w["cpu_s"], left["cpu_s"], right["cpu_s"]) < MIN_CPU_S or not (left["pps"] and right["pps"]):
            out.append({"ratio": None, "steady": False, "why": f"under {MIN_CPU_S * 1e3:g} ms of CPU"})
            continue
        other = (left["pps"] + right["pps"]) / 2
        ratio = w["pps"] / other if side == "ours" else other / w["pps"] if w["pps"] else float("nan")
        step = abs(math.log(left["pps"] / right["pps"]))
        ok = step <= math.log1p(steady)
        why = "" if ok else f"neighbours differ by {100 * math.expm1(step):.0f} %"
        out.append({"ratio": ratio, "steady": ok, "why": why})
    return out


def per_instance(pairs: int, instances: int, inst: int) -> int:
    """--pairs shared out over --instances, the first ones taking the remainder."""
    return pairs // instances + (inst < pairs % instances)


def start_testpmd(vset: str, args, journal) -> Theirs:
    from harness.errors import HarnessError
    from harness.system import hugepages

    for attempt in range(5):  # testpmd's -m 128 and EAL's own; the journal gives them back
        try:
            hugepages.ensure_free(journal, 2048, 112)
            return Theirs(vset, args, journal)
        except HarnessError:  # other runs on the host took the pages first
            if attempt == 4:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def run_once(args, selected, journal, windows: list, tag: int) -> tuple[list[dict], dict | None, list[str]]:
    results, problems = [], []
    for vset in [v for v in VDEVS if any(c[1] == v for c in selected)]:
        comps = [c for c in selected if c[1] == vset]
        seqs: dict[str, list[list[tuple[str, dict]]]] = {c[0]: [] for c in comps}
        hz = 0
        # each instance: a fresh pair of processes. Where the pool, rings and ports of a process landed moves
        # its loops by up to +-10 % for its whole life (either side), so one pair of processes is one sample
        for inst in range(args.instances):
            child = start_child(vset, args)
            hz = child.hello["tsc_hz"]
            theirs = None
            try:
                theirs = start_testpmd(vset, args, journal)
                for name, _, mode, txlen, kind, frame, _judged in comps:
                    seq = []  # testpmd, ours, testpmd, ours ...: one window at a time, side by side in time
                    for _ in range(per_instance(args.pairs, args.instances, inst)):
                        seq.append(("testpmd", theirs.window(mode, txlen, args.warmup, args.window)))
                        seq.append(("ours", child.ask(op="window", kind=kind, frame=frame, warmup=args.warmup,
                                                      seconds=args.window)))
                    # the last ours window's right bracket
                    seq.append(("testpmd", theirs.window(mode, txlen, args.warmup, args.window)))
                    seqs[name].append(seq)
            finally:
                if theirs is not None:
                    problems += theirs.close()
                problems += child.close()
        for name, _, mode, _txlen, kind, frame, judged in comps:
            kept, n_brackets, per_inst, tp_pps, our_pps, on_cpu = [], 0, [], [], [], []
            for inst, seq in enumerate(seqs[name]):
                brackets = bracketed(seq, args.steady)
                for k, (side, w) in enumerate(seq):
                    windows.append({"run": tag, "comparison": name, "instance": inst, "window": k, "side": side,
                                    **w, **brackets[k]})
                mine = [br["ratio"] for br in brackets if br["steady"]]
                kept += mine
                n_brackets += len(brackets) - 2
                if mine:
                    per_inst.append(statistics.median(mine))
                tp_pps += [w["pps"] for side, w in seq if side == "testpmd" and w["cpu_s"] >= MIN_CPU_S]
                our_pps += [w["pps"] for side, w in seq if side == "ours" and w["cpu_s"] >= MIN_CPU_S]
                on_cpu += [w["on_cpu"] for _, w in seq]
            if len(kept) < MIN_BRACKETS:
                raise RuntimeError(
                    f"{name}: only {len(kept)} of {n_brackets} windows had steady neighbours (within "
                    f"{100 * args.steady:g} %); the host's speed changes too often to measure: raise --pairs "
                    "or --steady, or run on a quieter host")
            results.append({"comparison": name, "judged": judged, "testpmd": f"{mode}", "ours": kind,
                            "frame": frame, "ratio": quantiles(kept), "instances": per_inst,
                            "testpmd_mpps": statistics.median(tp_pps) / 1e6,
                            "ours_mpps": statistics.median(our_pps) / 1e6,
                            "testpmd_cpp": hz / statistics.median(tp_pps),
                            "ours_cpp": hz / statistics.median(our_pps), "tsc_hz": hz,
                            "on_cpu_min": min(on_cpu), "brackets": n_brackets, "unsteady": n_brackets - len(kept)})
    path = None
    if "path" in args.only:
        child = start_child("none", args)
        try:
            path = child.ask(op="path", frame=64, warmup=args.warmup, seconds=max(1.0, args.window * 2))
            path["tsc_hz"] = child.hello["tsc_hz"]
        finally:
            problems += child.close()
    return results, path, problems


def report(results: list[dict], path: dict | None, args, tag: int) -> None:
    print(f"\nrun {tag}: burst {args.burst}, lcores {args.lcores}, {args.pairs} interleaved pairs of "
          f"{args.window:g} s windows (warm-up {args.warmup:g} s discarded) over {args.instances} pairs of "
          f"processes;\nratio = median over the windows whose neighbours agree within {100 * args.steady:g} %, "
          "instances = range of the per-process-pair medians")
    print(f"{'comparison':<24} {'testpmd':<7} {'Mpps':>7} {'c/pkt':>6} {'ours Mpps':>9} {'c/pkt':>6} "
          f"{'ratio':>6} {'IQR':>13} {'instances':>13} {'steady':>7} {'on-CPU':>6}")
    for r in results:
        q, inst = r["ratio"], r["instances"]
        mark = "" if r["judged"] else "  (reported)"
        steady = f"{r['brackets'] - r['unsteady']}/{r['brackets']}"
        print(f"{r['comparison']:<24} {r['testpmd']:<7} {r['testpmd_mpps']:>7.2f} {r['testpmd_cpp']:>6.1f} "
              f"{r['ours_mpps']:>9.2f} {r['ours_cpp']:>6.1f} {q['median']:>6.3f} "
              f"{q['q1']:>6.3f}-{q['q3']:<6.3f} {min(inst):>6.3f}-{max(inst):<6.3f} {steady:>7} "
              f"{100 * r['on_cpu_min']:>4.0f}%{mark}")
    if path:
        print(f"path gen -> wire -> fwd -> wire -> sink, {path['frame']} B: {path['pps'] / 1e6:.2f} Mpps on "
              f"{path['lcores']} lcore(s) = {path['pps_per_lcore'] / 1e6:.2f} Mpps per lcore; {path['bound']}")
        for lane in path["lanes"]:
            parts = []
            for t in lane["tasks"]:
                n = t["tx_pkts"] if t["role"] == "gen" else t["rx_pkts"]
                idle = f", idle {100 * t['rx_empty_polls'] / t['rx_polls']:.0f}%" if t["rx_polls"] else ""
                parts.append(f"{t['role']} {n / lane['seconds'] / 1e6:.2f} Mpps{idle}")
            share = f"on its CPU {100 * lane['on_cpu']:.0f}% of the window"
            print(f"  lcore {lane['lcore']} on CPU {lane['cpu']} ({share}): " + "; ".join(parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=120, help="interleaved testpmd/ours windows per comparison "
                    "(default 120)")
    ap.add_argument("--window", type=float, default=0.1, help="seconds counted per window (default 0.1)")
    ap.add_argument("--warmup", type=float, default=0.05, help="seconds discarded at the start of each window "
                    "(default 0.05)")
    ap.add_argument("--instances", type=int, default=10, help="fresh testpmd and harness processes this many times "
                    "per device set, the pairs shared out between them (default 10)")
    ap.add_argument("--steady", type=float, default=0.1, help="a window counts when the two windows of the other "
                    "side around it agree within this share (default 0.1)")
    ap.add_argument("--all", action="store_true", help="also perf.c's loops (reported, not judged)")
    ap.add_argument("--burst", type=int, default=32, help="rx/tx burst of every loop (default 32)")
    ap.add_argument("--lcores", default="0@0,1@1", help="EAL lcores of both sides (main 0, workers after)")
    ap.add_argument("--only", default="fwd,gen,sink,path", help="comparisons: fwd, gen, sink, path")
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole benchmark (run-to-run spread)")
    ap.add_argument("--json", metavar="FILE", help="write every window and the summaries as JSON")
    ap.add_argument("--serve", metavar="VSET", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.burst, args.lcores)
    if os.geteuid() != 0:
        print("benchmarks/run.py: run as root (hugepages, DPDK)", file=sys.stderr)
        return 2
    if args.instances < 1 or args.pairs < 4 * args.instances or args.window <= 0 or args.warmup < 0 \
            or args.steady <= 0:
        print("benchmarks/run.py: --instances >= 1, --pairs >= 4 x --instances, --window > 0, --warmup >= 0 and "
              "--steady > 0", file=sys.stderr)
        return 2
    tp = testpmd_driver()
    if tp.testpmd_path() is None:
        print("benchmarks/run.py: dpdk-testpmd not found (apt-get install dpdk)", file=sys.stderr)
        return 2
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    if wanted - {"fwd", "gen", "sink", "path"}:
        print(f"benchmarks/run.py: --only: {sorted(wanted - {'fwd', 'gen', 'sink', 'path'})} unknown; "
              "use fwd, gen, sink, path", file=sys.stderr)
        return 2
    args.only = wanted
    selected = [c for c in COMPARISONS if c[0].split()[0] in wanted and (c[6] or args.all)]
    from harness.system.journal import Journal

    windows, runs, problems = [], [], []
    for tag in range(1, args.runs + 1):
        journal = Journal()
        try:
            results, path, probs = run_once(args, selected, journal, windows, tag)
        finally:
            probs_undo = journal.undo_all()
        problems += probs + probs_undo
        runs.append({"run": tag, "results": results, "path": path})
        report(results, path, args, tag)
    if len(runs) > 1:
        print("\nrun-to-run: median ratio of each run, and the largest difference from the first run")
        for i, r in enumerate(runs[0]["results"]):
            meds = [run["results"][i]["ratio"]["median"] for run in runs]
            spread = max(abs(m / meds[0] - 1) for m in meds)
            print(f"{r['comparison']:<24} " + " ".join(f"{m:.3f}" for m in meds) + f"   {100 * spread:+.1f}%")
            r["run_to_run"] = spread
    leftovers = [p for p in PREFIXES if os.path.exists(f"/var/run/dpdk/{p}")]
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"burst": args.burst, "lcores": args.lcores, "pairs": args.pairs, "window_s": args.window,
             "steady": args.steady, "instances": args.instances,
             "warmup_s": args.warmup, "loadavg": os.getloadavg(), "runs": runs, "windows": windows,
             "problems": problems}, separators=(",", ":")))
    if leftovers or problems:
        print(f"cleanup problems: {leftovers + problems}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
