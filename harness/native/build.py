"""cffi API-mode builder for the probe (``harness._probe``).

API mode is required: ``rte_eth_rx_burst`` and friends are ``static inline``. Compiler and
linker flags come from ``pkg-config libdpdk``; the package version is compiled in and
checked at import (harness/probe.py), so a stale build fails loudly.
"""
from __future__ import annotations

import pathlib
import re
import shlex
import shutil
import subprocess
import sys

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEBIAN_HINT = (
    "install DPDK's development files first: apt-get install dpdk dpdk-dev libdpdk-dev pkg-config "
    "(Debian 12 ships DPDK 22.11)"
)


def _version() -> str:
    text = (ROOT / "harness" / "__init__.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def _pkg_config(*args: str) -> list[str]:
    if shutil.which("pkg-config") is None:
        sys.exit(f"dpdk-harness: pkg-config not found; {DEBIAN_HINT}")
    try:
        out = subprocess.run(["pkg-config", *args, "libdpdk"], check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        sys.exit(f"dpdk-harness: pkg-config cannot find libdpdk; {DEBIAN_HINT}")
    return shlex.split(out)


def _split(flags: list[str]):
    inc, libs, libdirs, other = [], [], [], []
    for f in flags:
        if f.startswith("-I"):
            inc.append(f[2:])
        elif f.startswith("-l"):
            libs.append(f[2:])
        elif f.startswith("-L"):
            libdirs.append(f[2:])
        else:
            other.append(f)
    return inc, libs, libdirs, other


cflags = _pkg_config("--cflags")
ldflags = _pkg_config("--libs")
inc, _, _, cother = _split(cflags)
_, libs, libdirs, lother = _split(ldflags)
# PMDs the probe calls directly (not part of libdpdk.pc's library list)
libs += ["rte_net_ring", "rte_bus_vdev"]

ffibuilder = FFI()
ffibuilder.cdef((HERE / "probe.h").read_text())
ffibuilder.set_source(
    "harness._probe",
    '#include <stddef.h>\n#include <stdint.h>\n#include "probe.h"\n',
    sources=sorted(str(c.relative_to(ROOT)) for c in HERE.glob("*.c")),  # probe.c and per-suite parts
    include_dirs=[str(HERE.relative_to(ROOT))] + inc,
    libraries=libs,
    library_dirs=libdirs,
    extra_compile_args=cother + ["-O3", "-Wall", "-Wno-unused-parameter", "-Wno-deprecated-declarations",
                                 f'-DPROBE_VERSION="{_version()}"'],
    extra_link_args=lother,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
