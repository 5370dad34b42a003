"""The harness's own tests.

``DPDK_HARNESS_OWN_TESTS`` makes a run that collects them a harness run (profile, fixtures; EAL when a test
asks for it: tests/system use ``eal``, ``worker``, ``profile`` ...), and one whose tests are no
qualification: it writes no reports unless given ``--dpdk-report-dir``, so ``reports/`` keeps what the last
run of the suites wrote.
"""
DPDK_HARNESS_OWN_TESTS = True
