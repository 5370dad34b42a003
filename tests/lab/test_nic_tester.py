"""The throughput tester on the igb pair as profiles/lab-igb.toml configures it (4 rx queues with RSS, and no
PCI address in the profile: --nic gives them). The lab leaves suites/throughput out (under TCG a rate
measures the host), so this checks what the tester's self-checks need of a multi-queue NIC port, at a low
rate: a one-queue wire request gets the NIC pair as configured (not reconfigured to 1 queue, which igb
refuses on a started port), the tester's single flow lands on one rx queue that is found, and a calibrated
DUT polling that queue hands every frame back."""
import os
import re
import subprocess
import sys

from labrun import NIC_ARGS, lab_profile

CHILD = '''
from harness import perf


def test_calibrated_dut_on_the_igb_pair(topology_of, worker, pool, profile):
    topo = topology_of("ring_wire", queues=1)  # what suites/throughput's wire_pair asks for
    assert topo.kind == "nic" and topo.port_conf.nb_rxq == profile.queues.rx == 4, topo.port_conf
    a, b = topo.ports
    q = perf.flow_rx_queue(worker, pool, a, b, rx_queues=4, burst=profile.queues.burst, drain_s=0.2)
    print(f"FLOW_QUEUE {q}")
    dut = perf.CalibratedDut(100_000, queue=64)
    tester = perf.Tester(worker, pool, a, a, rx_queues=4, burst=profile.queues.burst, frames=64, drain_s=0.2,
                         dut=dut, dut_ports=(b, b), dut_rx_queue=q)
    t = perf.judgeable_trial(lambda: tester.trial(1000, 0.2), what="1000 pps through a calibrated DUT")
    assert t.received == t.intended and t.dut["dut_rx"] >= t.intended, t.line()
'''


def test_the_tester_places_a_calibrated_dut_on_the_queue_rss_gives_its_flow(tmp_path):
    (tmp_path / "test_child.py").write_text(CHILD)
    cmd = [sys.executable, "-m", "pytest", str(tmp_path / "test_child.py"), "-p", "no:cacheprovider", "-q", "-s",
           "--dpdk-report-dir", str(tmp_path / "reports"), "--dpdk-profile", str(lab_profile(tmp_path, "lab-tester")),
           *NIC_ARGS]
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    found = re.search(r"FLOW_QUEUE (\d+)", out)
    assert found and int(found.group(1)) in range(4), out
