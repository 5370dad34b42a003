"""Binding on real PCI functions: the igb pair goes to vfio-pci (driver_override) for a run and back
to igb, with its netdevs, after SIGKILL + ``python -m harness restore``. (After a normal exit:
test_z_nothing_left.py, once the suites and every child run here have bound and released them.)"""
import os
import signal
import subprocess
import sys
import time

from labrun import IGB, NIC_ARGS, REPO, driver_of, driver_override, harness_leftovers, lab_profile, netdevs_of

BIND_TIMEOUT_S = 120


def _child(tmp_path, *args):
    cmd = [sys.executable, "-m", "pytest", str(REPO / "suites/ports"), "-p", "no:cacheprovider", "-q",
           "--dpdk-report-dir", str(tmp_path / "reports"), "--dpdk-profile", str(lab_profile(tmp_path, "lab-bind")),
           *NIC_ARGS, *args]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_sigkill_then_restore_gives_the_igb_pair_back(tmp_path):
    proc = _child(tmp_path, "-k", "wire")
    deadline = time.monotonic() + BIND_TIMEOUT_S
    while time.monotonic() < deadline and not all(driver_of(p) == "vfio-pci" for p in IGB):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    assert all(driver_of(p) == "vfio-pci" for p in IGB), [driver_of(p) for p in IGB]
    time.sleep(1.0)  # let EAL take the devices
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert [driver_of(p) for p in IGB] == ["vfio-pci", "vfio-pci"], "a killed run cannot have given them back"
    assert harness_leftovers(), "a killed run leaves its journal behind"
    res = subprocess.run([sys.executable, "-m", "harness", "restore"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    for pci in IGB:
        assert driver_of(pci) == "igb" and netdevs_of(pci), (pci, driver_of(pci), netdevs_of(pci), res.stdout)
        assert driver_override(pci) == "", f"{pci}: driver_override left at {driver_override(pci)!r}"
    assert not harness_leftovers(), (harness_leftovers(), res.stdout)
