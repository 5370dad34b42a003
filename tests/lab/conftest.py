"""tests/lab: the harness's own NIC-mode tests. They run INSIDE the emulated-NIC lab guest
(``./harness.sh lab`` runs them after the suites), where DPDK_HARNESS_LAB names the lab and
DPDK_HARNESS_LAB_IGB0/IGB1/E1000E/MGMT give the PCI addresses of its NICs.

Anywhere else (the host's ``./harness.sh test``) they are not collected at all: they bind PCI
NICs, SIGKILL runs and restore, which only a disposable guest may be put through.
"""
import os

IN_LAB = bool(os.environ.get("DPDK_HARNESS_LAB")) and bool(os.environ.get("DPDK_HARNESS_LAB_IGB0"))

if not IN_LAB:
    collect_ignore_glob = ["test_*.py"]
