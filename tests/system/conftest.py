import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="tests/system need root: they reserve hugepages and boot DPDK's EAL")
    for item in items:
        if "tests/system" in str(item.fspath):
            item.add_marker(skip)
