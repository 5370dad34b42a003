"""Mempool sizing rules (model; the pool itself is the generic harness.probe.Mempool)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model",))
