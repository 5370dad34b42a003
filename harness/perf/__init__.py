"""Throughput and latency: search and maths (model), the latency histogram (latency), harness/native/perf.c
(native), the Tester and DUT paths (run)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "latency", "native", "run"))
