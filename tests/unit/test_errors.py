"""errno -> typed exceptions, in one place."""
import errno

import pytest

from harness import errors
from harness.errors import HarnessError, check


@pytest.mark.parametrize("err,cls,builtin", [
    (errno.EINVAL, errors.ProbeInvalidError, OSError),
    (errno.ENOMEM, errors.ProbeNoMemoryError, MemoryError),
    (errno.ENODEV, errors.ProbeNotFoundError, FileNotFoundError),
    (errno.ENOTSUP, errors.ProbeUnsupportedError, OSError),
    (errno.EALREADY, errors.ProbeAlreadyError, OSError),
    (errno.EBUSY, errors.ProbeBusyError, BlockingIOError),
    (errno.EPERM, errors.ProbePermissionError, PermissionError),
    (errno.EIO, errors.ProbeError, OSError),
])
def test_negative_errno_raises_typed_error(err, cls, builtin):
    with pytest.raises(cls) as info:
        check(-err, "rte_thing(port 3)")
    exc = info.value
    assert type(exc) is cls and isinstance(exc, HarnessError) and isinstance(exc, builtin)
    assert exc.errno == err
    assert str(exc).startswith("rte_thing(port 3): ") and f"errno {err}" in str(exc)


def test_non_negative_passes_through():
    assert check(0, "x") == 0 and check(7, "x") == 7


def test_profile_error_is_one_line():
    e = errors.ProfileError("p.toml", "queues.rx", "0 is out of range 1..1024", "raise it")
    assert str(e) == "p.toml: queues.rx: 0 is out of range 1..1024; raise it"
    assert isinstance(e, errors.UsageError) and isinstance(e, ValueError)


def test_missing_build_is_a_one_line_error(monkeypatch):
    from harness import probe
    with monkeypatch.context() as m, pytest.raises(errors.DpdkUnavailableError) as info:
        m.setattr(probe.core, "lib", None)  # undone before the test ends: a live session still needs lib
        probe.require_lib()
    msg = str(info.value)
    assert "\n" not in msg and "apt-get install dpdk dpdk-dev libdpdk-dev" in msg and "pip install -e ." in msg


def test_stale_build_is_refused(monkeypatch):
    from harness import probe
    monkeypatch.setattr(probe.core, "__version__", "9.9.9")
    with pytest.raises(errors.DpdkUnavailableError, match=r"stale probe build: compiled for dpdk-harness 0\.1\.0"):
        probe.require_lib()
