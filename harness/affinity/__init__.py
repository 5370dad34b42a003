"""Core pinning, isolation and NUMA: verdicts (model), harness/native/affinity.c (native), observation
under load (run)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "native", "run"))
