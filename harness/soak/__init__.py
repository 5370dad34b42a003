"""Soak mode (``--dpdk-soak DURATION``): the lifecycle checks under continuous traffic, judged on slopes."""
