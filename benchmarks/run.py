#!/usr/bin/env python3
"""Side by side with dpdk-testpmd: forwarding rate and cycles per packet on the same vdevs, lcores and burst.

    python benchmarks/run.py [--seconds 2] [--burst 32] [--pairs null,ring] [--lcores 0@0,1@1] [--json FILE]

For each vdev pair (``null``: two net_null ports, ``ring``: two net_ring ports, each looping back into
itself, seeded with one burst per port like testpmd's ``start tx_first``), three forwarders run one
after the other, each in its own process, never at the same time (one EAL per CPU while measuring):

  * ``testpmd io``  dpdk-testpmd in io forwarding mode (port 0 <-> port 1), measured from its port stats;
  * ``perf fwd``    the probe's plain forwarder (harness/native/perf.c: rx_burst -> tx_burst, nothing
                    touched), two tasks in one loop on the worker lcore;
  * ``run fwd``     the probe's general forwarding task (harness/native/probe.c PROBE_MODE_FWD, which also
                    counts bytes, so it reads every mbuf).

Cycles per packet are TSC cycles of the one forwarding lcore per forwarded packet (every loop busy-polls,
so tsc_hz / pps, with the TSC frequency measured against CLOCK_MONOTONIC_RAW). testpmd runs without
--record-core-cycles, which would cost it two TSC reads per burst.
testpmd runs with --no-pci, --in-memory, its own --file-prefix; its runtime directory is removed after,
and the hugepages this script reserved are given back. Timing is reported, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = {
    "null": ("net_null0", "size=64,copy=0"), "null_b": ("net_null1", "size=64,copy=0"),
    "ring": ("net_ring0", "nodeaction=net_ring0:0:CREATE"), "ring_b": ("net_ring1", "nodeaction=net_ring1:0:CREATE"),
}
WARMUP_S = 0.5


def vdevs(pair: str) -> list[tuple[str, str]]:
    return [PAIRS[pair], PAIRS[pair + "_b"]]


# ---------------------------------------------------------------- our side, in a child process

def child(pair: str, seconds: float, burst: int, lcores: str) -> dict:
    """Boot an EAL of our own (a harness session on profiles/vdev.toml), create the pair, measure both
    forwarders one after the other."""
    from harness import perf, probe
    from harness.profile import load_profile
    from harness.session import HarnessSession

    prof = load_profile(ROOT / "profiles" / "vdev.toml").with_overrides(lcores=lcores)
    sess = HarnessSession(prof)
    out = {"pair": pair}
    try:
        sess.start()
        worker = sess.worker_lcores()[0]
        ports = []
        for name, args in vdevs(pair):
            port = probe.vdev_create(name, args)
            port.configure(probe.PortConf(rx_desc=1024, tx_desc=1024), sess.pool)
            port.start()
            ports.append(port)
        p0, p1 = ports
        hz = perf.measured_tsc_hz()
        seed = burst if pair == "ring" else 0  # a burst per port, as testpmd's start tx_first

        # perf.c's plain forwarder (seeded first: a run of plain forwarders only takes its fast loop)
        if seed:
            with perf.PerfRun(worker, [perf.PerfTask.gen(p0, count=seed, seq_base=1),
                                       perf.PerfTask.gen(p1, count=seed, seq_base=1 << 40)],
                              burst=burst, pool=sess.pool, tsc_hz=hz) as gen:
                gen.wait_generated(2)
        run = perf.PerfRun(worker, [perf.PerfTask.dut(p0, p1), perf.PerfTask.dut(p1, p0)], burst=burst, tsc_hz=hz)
        try:
            time.sleep(WARMUP_S)
            a = run.stats()
            time.sleep(seconds)
            b = run.stats()
        finally:
            run.stop()
        fwd = sum(b["tasks"][i]["dut_tx"] - a["tasks"][i]["dut_tx"] for i in (0, 1))
        win = b["elapsed_s"] - a["elapsed_s"]
        out["perf_fwd"] = {"pps": fwd / win, "seconds": win, "tsc_hz": hz}

        # probe.c's forwarding task
        tasks = [probe.Task.fwd(p0, p1), probe.Task.fwd(p1, p0)]
        if seed:
            tasks += [probe.Task.gen(p0), probe.Task.gen(p1)]
        run = probe.Run(worker, tasks, burst=burst, pool=sess.pool, count=seed)
        try:
            time.sleep(WARMUP_S)
            a = run.stats()
            time.sleep(seconds)
            b = run.stats()
        finally:
            run.stop()
        fwd = sum(b.tasks[i]["tx_pkts"] - a.tasks[i]["tx_pkts"] for i in (0, 1))
        win = b.elapsed_s - a.elapsed_s
        out["run_fwd"] = {"pps": fwd / win, "seconds": win, "tsc_hz": hz}
        for port in ports:
            port.stop()
        for name, _ in vdevs(pair):
            probe.vdev_destroy(name)
    finally:
        problems = sess.close()
        if problems:
            out["problems"] = problems
    return out


# ---------------------------------------------------------------- dpdk-testpmd

def testpmd_side(pair: str, seconds: float, burst: int, lcores: str, journal) -> dict:
    from harness.system import hugepages, testpmd

    hugepages.ensure_free(journal, 2048, 160)  # -m 256 and EAL's own, given back by the journal
    tp = testpmd.Testpmd(lcores=lcores, vdevs=[f"{n},{a}" for n, a in vdevs(pair)], hugepages=True, memory_mb=256,
                         journal=journal,
                         app_args=["--forward-mode=io", f"--burst={burst}", "--nb-cores=1", "--rxq=1", "--txq=1",
                                   "--rxd=1024", "--txd=1024", "--total-num-mbufs=16384"])
    try:
        tp.cmd("start tx_first" if pair == "ring" else "start")
        time.sleep(WARMUP_S)
        a, t_a = tp.port_stats(), time.monotonic()
        time.sleep(seconds)
        b, t_b = tp.port_stats(), time.monotonic()
        tp.cmd("stop")
    finally:
        problems = tp.close()
    fwd = sum(b[p].tx - a[p].tx for p in b)
    return {"pps": fwd / (t_b - t_a), "seconds": t_b - t_a, "own_pps": sum(s.tx_pps for s in b.values()),
            "problems": problems, "prefix": tp.prefix, "argv": " ".join(tp.argv)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="measurement window per forwarder (default 2)")
    ap.add_argument("--burst", type=int, default=32, help="rx/tx burst of every forwarder (default 32)")
    ap.add_argument("--pairs", default="null,ring", help="vdev pairs: null, ring (default both)")
    ap.add_argument("--lcores", default="0@0,1@1", help="EAL lcores of both sides (main 0, forwarding 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--child", metavar="PAIR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.burst, args.lcores)))
        return 0
    if os.geteuid() != 0:
        print("benchmarks/run.py: run as root (hugepages, DPDK)", file=sys.stderr)
        return 2
    from harness.system import testpmd
    from harness.system.journal import Journal

    if testpmd.testpmd_path() is None:
        print("benchmarks/run.py: dpdk-testpmd not found (apt-get install dpdk)", file=sys.stderr)
        return 2
    results, rows = [], []
    for pair in [p.strip() for p in args.pairs.split(",") if p.strip()]:
        if pair not in ("null", "ring"):
            print(f"benchmarks/run.py: --pairs: {pair!r} is not null or ring", file=sys.stderr)
            return 2
        res = subprocess.run([sys.executable, __file__, "--child", pair, "--seconds", str(args.seconds),
                              "--burst", str(args.burst), "--lcores", args.lcores],
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            print(f"benchmarks/run.py: our side failed on {pair}:\n{res.stdout}{res.stderr}", file=sys.stderr)
            return 1
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        journal = Journal()
        try:
            theirs = testpmd_side(pair, args.seconds, args.burst, args.lcores, journal)
        finally:
            undo = journal.undo_all()
        hz = ours["perf_fwd"]["tsc_hz"]
        entry = {"pair": pair, "burst": args.burst, "lcores": args.lcores, "tsc_hz": hz, "testpmd": theirs,
                 "perf_fwd": ours["perf_fwd"], "run_fwd": ours["run_fwd"], "undo_problems": undo}
        results.append(entry)
        base = theirs["pps"]
        for name, r in (("testpmd io", theirs), ("perf fwd (perf.c)", ours["perf_fwd"]),
                        ("run fwd (probe.c)", ours["run_fwd"])):
            rows.append((pair, name, r["pps"] / 1e6, hz / r["pps"] if r["pps"] else float("inf"),
                         r["pps"] / base if base else float("nan")))
    print(f"burst {args.burst}, lcores {args.lcores} (forwarding on lcore 1), {args.seconds:g} s windows, "
          f"TSC {results[0]['tsc_hz'] / 1e9:.4f} GHz" if results else "nothing measured")
    print(f"{'pair':<5} {'forwarder':<18} {'Mpps':>9} {'cycles/pkt':>11} {'vs testpmd':>11}")
    for pair, name, mpps, cpp, ratio in rows:
        print(f"{pair:<5} {name:<18} {mpps:>9.2f} {cpp:>11.2f} {ratio:>10.2f}x")
    leftovers = [r["testpmd"]["prefix"] for r in results if os.path.exists(f"/var/run/dpdk/{r['testpmd']['prefix']}")]
    problems = [p for r in results for p in r["testpmd"]["problems"] + r["undo_problems"]]
    if leftovers or problems:
        print(f"cleanup problems: {leftovers + problems}", file=sys.stderr)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if leftovers or problems else 0


if __name__ == "__main__":
    sys.exit(main())
