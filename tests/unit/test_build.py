"""Installing without DPDK's development files fails with one line naming the Debian packages."""
import os
import pathlib
import subprocess
import sys

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[2] / "harness" / "native" / "build.py"


def run_build(env_changes):
    env = {**os.environ, **env_changes}
    return subprocess.run([sys.executable, str(BUILD)], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("env", [
    {"PATH": "/nonexistent"},                    # no pkg-config at all
    {"PKG_CONFIG_LIBDIR": "/nonexistent", "PKG_CONFIG_PATH": ""},  # pkg-config, but no libdpdk.pc
], ids=["no-pkg-config", "no-libdpdk"])
def test_missing_dpdk_names_the_packages(env):
    res = run_build(env)
    assert res.returncode != 0
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("dpdk-harness: ")
    assert "apt-get install dpdk dpdk-dev libdpdk-dev pkg-config" in lines[-1]
    assert "Traceback" not in res.stderr
