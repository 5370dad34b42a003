"""A client of DPDK's telemetry socket (v2), and where to find a running application's socket.

DPDK applications serve JSON over an AF_UNIX SOCK_SEQPACKET socket in their runtime directory,
``/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2`` (``dpdk_telemetry.v2:N`` for further processes of
one prefix, DPDK 23.03+). On connect the application sends ``{"version", "pid", "max_output_len"}``;
each request is ``/command[,params]`` and each reply one message of at most ``max_output_len``
(16 KiB) bytes, ``{"/command": value}``. This is what ``usertools/dpdk-telemetry.py`` does.

Reading is all this module does: it never writes to the application (beyond the requests) and
never signals it. The socket of a pid is found from ``/proc/net/unix`` (listening sockets and
their paths) and ``/proc/<pid>/fd`` (which socket inodes the pid holds), so a pid maps to its
socket even when several applications share a runtime directory. Roots are injectable.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

RUNTIME_BASE = "/var/run/dpdk"
SOCKET_NAME = "dpdk_telemetry.v2"
MAX_REPLY = 16384            # DPDK's MAX_OUTPUT_LEN; the greeting says what the application uses
TIMEOUT_S = 10.0          # a busy host may keep the telemetry thread (on a control CPU) waiting for seconds
_SOCKET_RE = re.compile(r"(?:^|/)dpdk_telemetry\.v2(?::\d+)?$")
_UNIX_LISTEN = 0x00010000    # __SO_ACCEPTCON in /proc/net/unix Flags


class TelemetryError(HarnessError, OSError):
    """The telemetry socket cannot be reached or answered something that is not telemetry."""


def is_socket_name(path: str) -> bool:
    return bool(_SOCKET_RE.search(path))


def sockets_in(prefix: str | None = None, runtime_base: str = RUNTIME_BASE) -> list[Path]:
    """Telemetry sockets under ``<runtime_base>/<prefix>/`` (every prefix when None), ``:N`` variants
    included, in a stable order."""
    base = Path(runtime_base)
    dirs = [base / prefix] if prefix else (sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else [])
    out = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        out += [d / n for n in names if is_socket_name(n)]
    return out


def listening_unix_sockets(proc_root: str = "/proc") -> dict[int, str]:
    """``{inode: path}`` of every bound, listening AF_UNIX socket (``/proc/net/unix``)."""
    out: dict[int, str] = {}
    try:
        lines = (Path(proc_root) / "net" / "unix").read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            flags, inode = int(f[3], 16), int(f[6])
        except ValueError:
            continue
        if flags & _UNIX_LISTEN:
            out[inode] = f[7]
    return out


def socket_inodes(pid: int, proc_root: str = "/proc") -> set[int]:
    """Inodes of the sockets ``pid`` holds open (``/proc/<pid>/fd/* -> socket:[N]``)."""
    out: set[int] = set()
    fd_dir = Path(proc_root) / str(pid) / "fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def sockets_of(pid: int, proc_root: str = "/proc") -> list[str]:
    """Paths of the telemetry sockets ``pid`` listens on (none for ``--no-telemetry``)."""
    listening = listening_unix_sockets(proc_root)
    return sorted(listening[i] for i in socket_inodes(pid, proc_root) if i in listening
                  and is_socket_name(listening[i]))


@dataclass(frozen=True)
class Greeting:
    version: str          # "DPDK 22.11.11"
    pid: int
    max_output_len: int


def version_tuple(version: str) -> tuple[int, int]:
    """``"DPDK 22.11.11"`` -> ``(22, 11)``; ``(0, 0)`` when it cannot be read."""
    m = re.search(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class Telemetry:
    """One connection to an application's telemetry socket.

    ``query("/ethdev/stats", 0)`` returns the value of the reply (``None`` when the application
    answers null, e.g. for an unknown command). Raises :class:`TelemetryError` when the socket
    cannot be reached or the reply is not telemetry JSON.
    """

    def __init__(self, path: str | os.PathLike, timeout_s: float = TIMEOUT_S):
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock.settimeout(timeout_s)
        try:
            self._sock.connect(self.path)
            hello = self._recv("the greeting")
        except OSError as exc:
            self._sock.close()
            raise TelemetryError(f"cannot talk to the DPDK telemetry socket {self.path} "
                                 f"({exc.strerror or exc}); is the application running with telemetry?") from None
        except TelemetryError:
            self._sock.close()
            raise
        try:
            self.greeting = Greeting(str(hello["version"]), int(hello["pid"]),
                                     int(hello.get("max_output_len", MAX_REPLY)))
        except (KeyError, TypeError, ValueError):
            self._sock.close()
            raise TelemetryError(f"{self.path}: the greeting {hello!r} is not DPDK telemetry v2") from None
        self._commands: frozenset[str] | None = None

    def _recv(self, what: str):
        greeting = getattr(self, "greeting", None)
        data = self._sock.recv(max(MAX_REPLY, greeting.max_output_len if greeting else 0))
        if not data:
            raise TelemetryError(f"{self.path}: the application closed the telemetry connection ({what})")
        try:
            return json.loads(data.decode())
        except (UnicodeDecodeError, ValueError):
            raise TelemetryError(f"{self.path}: {what}: reply is not JSON ({data[:80]!r})") from None

    def query(self, command: str, params=None):
        text = command if params is None else f"{command},{params}"
        try:
            self._sock.send(text.encode())
            reply = self._recv(text)
        except OSError as exc:
            raise TelemetryError(f"{self.path}: {text}: {exc.strerror or exc}") from None
        if not isinstance(reply, dict) or command not in reply:
            raise TelemetryError(f"{self.path}: {text}: unexpected reply {str(reply)[:120]}")
        return reply[command]

    @property
    def version(self) -> str:
        return self.greeting.version

    @property
    def pid(self) -> int:
        return self.greeting.pid

    def commands(self) -> frozenset[str]:
        """The endpoints this application serves (``/``)."""
        if self._commands is None:
            self._commands = frozenset(self.query("/") or ())
        return self._commands

    def has(self, command: str) -> bool:
        return command in self.commands()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Telemetry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
