"""Audit of a running DPDK application, read-only (``pytest suites/audit --audit PID``): verdicts (model),
finding and watching the application (run), the pytest side of audit mode (fixtures). No native part:
an audit reads telemetry and /proc, it never runs the probe."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "run"))
