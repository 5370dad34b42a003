"""The HarnessError tree, and the one place where a probe errno becomes an exception.

Every probe function returns ``>= 0`` or ``-errno``; :func:`check` turns a negative
return into a typed exception that subclasses both :class:`HarnessError` and the
matching builtin (``OSError`` family), after pygit2's ``check_error``.
"""
from __future__ import annotations

import errno as _errno
import os
import re

#: A value quoted back in a message is cut to this many characters (the length is said).
LONG_TOKEN, SHOWN = 200, 80
_LONG = re.compile(r"\S{%d,}" % (LONG_TOKEN + 1))


def cut_long(text: str) -> str:
    """Cut every run of more than 200 non-space characters in ``text`` to 80, saying how long it was."""
    return _LONG.sub(lambda m: f"{m.group(0)[:SHOWN]}…({len(m.group(0))} characters)", text)


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    ``str(err)`` is always one line naming the problem and, where there is one, the fix; a
    value echoed back in it (a 100 000-character profile value) is cut (:func:`cut_long`).
    """

    def __init__(self, *args):
        super().__init__(*(cut_long(a) if isinstance(a, str) else a for a in args))


class UsageError(HarnessError, ValueError):
    """Bad input from the user: option, profile, address. Nothing on the host was changed."""


class ProfileError(UsageError):
    """A deployment profile that cannot be loaded or is not valid."""

    def __init__(self, path, key, problem, fix=None):
        self.path, self.key, self.problem, self.fix = str(path), key, problem, fix
        where = f"{self.path}: {key}" if key else self.path
        msg = f"{where}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)


class HostError(HarnessError, OSError):
    """The host cannot be provisioned as asked (hugepages, binding, namespaces)."""


class UnsafeDeviceError(HostError):
    """A device the harness refuses to take (active netdev, not a network controller)."""


class OverloadedTesterError(HarnessError):
    """The tester itself could not keep up (its lcore preempted, the generator behind schedule) in
    every trial the retry budget allowed: the check says nothing about the device and is an ERROR,
    never a device FAIL. ``str()`` starts with "tester overloaded:"."""


class BringUpError(HarnessError):
    """The ports under test could not be brought up; ``str()`` names DPDK's cause and the profile key.
    Raised once by the check that owns bring-up; every later check that needs those ports is skipped
    naming it (``harness.session.HarnessSession.topology``)."""

    cause: str = ""             # the problem without the device's name: one cause met on several topologies
    profile_ports: bool = False  # the profile's own ports (their check, suites/ports, reports it)


class DpdkUnavailableError(HarnessError, ImportError):
    """DPDK or the compiled probe is missing or stale."""


class ProbeError(HarnessError, OSError):
    """A probe call failed; ``errno`` holds the positive errno."""

    def __init__(self, err, what):
        self.what = what
        super().__init__(err, f"{what}: {os.strerror(err)} (errno {err})")

    def __str__(self):
        return self.strerror


class ProbeBusyError(ProbeError, BlockingIOError):
    pass


class ProbeAlreadyError(ProbeError):
    """EALREADY: e.g. EAL initialised twice in one process."""


class ProbeNotFoundError(ProbeError, FileNotFoundError):
    pass


class ProbeInvalidError(ProbeError):
    """EINVAL: the device or DPDK rejected a parameter."""


class ProbeNoMemoryError(ProbeError, MemoryError):
    pass


class ProbeUnsupportedError(ProbeError):
    """ENOTSUP/EOPNOTSUPP/ENOSYS: the device cannot do this; checks turn it into a SKIP."""


class ProbePermissionError(ProbeError, PermissionError):
    pass


_BY_ERRNO = {
    _errno.EBUSY: ProbeBusyError,
    _errno.EAGAIN: ProbeBusyError,
    _errno.EALREADY: ProbeAlreadyError,
    _errno.ENOENT: ProbeNotFoundError,
    _errno.ENODEV: ProbeNotFoundError,
    _errno.EINVAL: ProbeInvalidError,
    _errno.ENOMEM: ProbeNoMemoryError,
    _errno.ENOSPC: ProbeNoMemoryError,
    _errno.ENOTSUP: ProbeUnsupportedError,
    _errno.EOPNOTSUPP: ProbeUnsupportedError,
    _errno.ENOSYS: ProbeUnsupportedError,
    _errno.EPERM: ProbePermissionError,
    _errno.EACCES: ProbePermissionError,
}


def error_for(rc: int, what: str) -> ProbeError:
    err = -rc if rc < 0 else rc
    return _BY_ERRNO.get(err, ProbeError)(err, what)


def check(rc: int, what: str) -> int:
    """Return ``rc`` when it is >= 0, raise the typed :class:`ProbeError` otherwise."""
    if rc < 0:
        raise error_for(rc, what)
    return rc
