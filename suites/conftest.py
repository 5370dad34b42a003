"""The conformance suites of dpdk-harness.

``DPDK_HARNESS_SUITES`` marks this directory as the suites: a pytest run that collects anything here is a
harness run (profile, EAL, reports), and its qualification report covers the checks under this directory
only. Elsewhere, with no ``--dpdk-...`` option or ``dpdk_harness = true`` ini setting, the installed plugin
stays inert.
"""
DPDK_HARNESS_SUITES = True
