"""A host the harness cannot provision, or a missing DPDK build: one line, no traceback, host as it was."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

USES_PORTS = """
def test_uses_ports(ports):
    assert ports.ports
"""

# Without the first two capabilities root obeys file modes like everybody else; without sys_admin
# the child could not mount hugetlbfs for real even if the harness tried before failing.
_CAPS = "-dac_override,-dac_read_search,-sys_admin"
DROP_DAC = [f"--bounding-set={_CAPS}", f"--inh-caps={_CAPS}"]


def _without_dac_override() -> list[str]:
    """The command prefix that runs a child without CAP_DAC_OVERRIDE, or skip when there is none."""
    if os.geteuid() != 0:
        return []  # file modes apply already
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop CAP_DAC_OVERRIDE for the child")
    return [setpriv, *DROP_DAC]


def _check_write_refused(prefix: list[str], path) -> None:
    """The prefix really takes the write permission away (else the test would prove nothing)."""
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(path)!r}, 'w')"],
                           capture_output=True, text=True)
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"{' '.join(prefix) or 'this user'} can still write a 0444 file "
                    f"(rc {probe.returncode}: {probe.stderr.strip()[-200:]}); cannot test the refusal")


def test_no_permission_for_hugepages_stops_before_anything_is_changed(child, pytester, monkeypatch, fake_host,
                                                                    host_guard):
    pool = fake_host.sys_root / "kernel/mm/hugepages/hugepages-2048kB"
    nr = pool / "nr_hugepages"
    nr.chmod(0o444)
    before = {f.name: (f.read_text(), stat.S_IMODE(f.stat().st_mode)) for f in pool.iterdir()}
    prefix = _without_dac_override()
    _check_write_refused(prefix, nr)
    pytester.makepyfile(test_uses_ports=USES_PORTS)
    monkeypatch.setenv("DPDK_HARNESS_SYS_ROOT", str(fake_host.sys_root))

    result = child.run_under(prefix)

    out = child.output(result)
    assert result.ret == child.EXIT_USAGE, f"expected exit {child.EXIT_USAGE}, got {result.ret}:\n{out}"
    child.no_traceback(result)
    lines = [line for line in result.outlines + result.errlines if str(nr) in line]
    assert len(lines) == 1, f"expected one line naming {nr}, got {lines!r}:\n{out}"
    assert "permission" in lines[0].lower() and "root" in lines[0], lines[0]
    assert "eal.hugepages = false" in lines[0], f"the line should offer the no-hugepages fix: {lines[0]}"
    result.stdout.no_fnmatch_line("*passed*")
    after = {f.name: (f.read_text(), stat.S_IMODE(f.stat().st_mode)) for f in pool.iterdir()}
    assert after == before, "the fake hugepage pool was changed"
    host_guard()  # in particular: nothing was mounted (the refusal comes before ensure_mount)


def test_missing_probe_build_names_the_install_commands(child, pytester, host_guard):
    pytester.makeconftest("""
        import harness.probe.core as p
        p.lib = None  # as if harness/_probe*.so had not been built
    """)
    pytester.makepyfile(test_uses_ports=USES_PORTS)

    result = child.run()

    out = child.output(result)
    assert result.ret == child.EXIT_USAGE, f"expected exit {child.EXIT_USAGE}, got {result.ret}:\n{out}"
    child.no_traceback(result)
    stops = child.exit_lines(result)
    assert len(stops) == 1, f"expected the run to stop with one line, got {stops!r}:\n{out}"
    assert "apt-get install dpdk dpdk-dev libdpdk-dev" in stops[0], stops[0]
    assert "pip install -e ." in stops[0], stops[0]
    result.stdout.fnmatch_lines(["dpdk-harness *, unavailable (*"])
    result.stdout.no_fnmatch_line("*1 passed*")
    host_guard()  # hugepages reserved before the probe was found missing are given back
