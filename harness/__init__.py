"""dpdk-harness: a test and conformance harness for DPDK deployments."""
__version__ = "0.1.0"
