"""The process's one EAL and its per-run settings; mempools."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

from harness.errors import ProbeAlreadyError, check, error_for
from harness.probe.core import ffi, lib, require_lib, struct_to_dict
from harness.profile import QueuesConfig

# ---------------------------------------------------------------- EAL


@dataclass(frozen=True)
class RunConfig:
    """Per-run settings every loop on a worker lcore takes from the session (one place), unless a caller
    passes its own: ``burst`` is the profile's ``queues.burst``; ``faults`` are deliberate probe faults
    (FAULTS bits, mutation tests only: --dpdk-probe-fault)."""
    burst: int = QueuesConfig.burst
    faults: int = 0


class _Seen:
    text = ""


@contextlib.contextmanager
def _stderr_copy() -> Iterator[_Seen]:
    """What C writes to fd 2 meanwhile (EAL's log and getopt's complaints), passed on as it comes."""
    seen = _Seen()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield seen
        return
    tmp = tempfile.TemporaryFile()
    try:
        os.dup2(tmp.fileno(), 2)
        try:
            yield seen
        finally:
            os.dup2(saved, 2)
            tmp.seek(0)
            data = tmp.read()
            seen.text = data.decode(errors="replace")
            try:
                while data:
                    data = data[os.write(2, data):]
            except OSError:
                pass
    finally:
        os.close(saved)
        tmp.close()


class Eal:
    """The process's one EAL. ``Eal.boot(args)`` once; a second boot raises EALREADY."""

    _instance: "Eal | None" = None
    _lock = threading.Lock()

    def __init__(self, args: Sequence[str], run: RunConfig | None = None):
        self.args = list(args)
        self.run = run or RunConfig()
        self._argv_keep = [ffi.new("char[]", a.encode()) for a in self.args]
        self._argv = ffi.new("char *[]", self._argv_keep + [ffi.NULL])

    @classmethod
    def boot(cls, args: Sequence[str], *, run: RunConfig | None = None) -> "Eal":
        """Boot EAL; every loop of this process then takes its per-run settings from ``run``."""
        lib_ = require_lib()
        with cls._lock:
            if cls._instance is not None or lib_.probe_eal_initialized():
                raise ProbeAlreadyError(114, "rte_eal_init: EAL is already initialised in this process")
            eal = cls(args, run)
            with _stderr_copy() as seen:
                rc = lib_.probe_eal_init(len(eal.args), eal._argv)
            if rc < 0:
                shown = " ".join(eal.args)
                err = error_for(rc, "rte_eal_init " + (shown if len(shown) <= 300 else shown[:300] + "…"))
                err.eal_output = seen.text  # type: ignore[attr-defined]  # EAL's own lines, for the session
                raise err
            cls._instance = eal
            return eal

    @classmethod
    def current(cls) -> "Eal | None":
        return cls._instance

    def lcores(self) -> list[dict]:
        ids = ffi.new("uint32_t[]", 1024)
        n = check(lib.probe_lcore_list(ids, 1024), "rte_lcore list")
        out = []
        info = ffi.new("struct probe_lcore_info *")
        for i in range(min(n, 1024)):
            check(lib.probe_lcore_info(ids[i], info), f"lcore {ids[i]} info")
            out.append(struct_to_dict(info[0], "struct probe_lcore_info"))
        return out

    def worker_lcores(self) -> list[int]:
        return [lc["lcore_id"] for lc in self.lcores() if not lc["is_main"]]

    def cleanup(self) -> None:
        with Eal._lock:
            if Eal._instance is self:
                check(lib.probe_eal_cleanup(), "rte_eal_cleanup")
                Eal._instance = None


# ---------------------------------------------------------------- mempools


@dataclass(frozen=True)
class PoolStats:
    size: int
    avail: int
    in_use: int
    cache_size: int
    cached: int
    socket_id: int
    data_room: int
    elt_size: int
    hugepage_sz: int


class Mempool:
    def __init__(self, name: str, n: int, cache: int, data_room: int, socket: int = -1):
        self.name = name
        out = ffi.new("probe_pool **")
        check(require_lib().probe_pool_create(name.encode(), n, cache, data_room, socket, out),
              f"rte_pktmbuf_pool_create({name!r}, n={n}, cache={cache}, data_room={data_room}, socket={socket})")
        self._h = out[0]

    @property
    def handle(self):
        if self._h is None:
            raise ValueError(f"mempool {self.name} is freed")
        return self._h

    def stats(self) -> PoolStats:
        st = ffi.new("struct probe_pool_stats *")
        check(lib.probe_pool_stats(self.handle, st), f"mempool {self.name} stats")
        return PoolStats(**struct_to_dict(st[0], "struct probe_pool_stats"))

    def hold(self, n: int) -> int:
        """Take up to ``n`` mbufs out of the pool and keep them (exhaustion); returns how many."""
        return check(lib.probe_pool_hold(self.handle, n), f"hold {n} mbufs of {self.name}")

    def release(self) -> int:
        """Give back every mbuf :meth:`hold` took; returns how many."""
        return check(lib.probe_pool_release(self.handle), f"release held mbufs of {self.name}")

    def bench(self, lcore: int, *, bulk: int = 32, rounds: int = 200_000, use_cache: bool = True) -> dict:
        """get/put bulk rate on ``lcore``, through its per-lcore cache or around it."""
        out = ffi.new("struct probe_pool_bench *")
        check(lib.probe_pool_bench(self.handle, lcore, bulk, rounds, int(use_cache), out),
              f"mempool {self.name} get/put bench on lcore {lcore}")
        secs = out.cycles / out.tsc_hz if out.tsc_hz else 0.0
        return {"ops": out.ops, "seconds": secs, "failed_gets": out.failed_gets,
                "mops": out.ops / secs / 1e6 if secs > 0 else 0.0}

    def free(self) -> None:
        if self._h is not None:
            self.release()
            check(lib.probe_pool_free(self._h), f"rte_mempool_free({self.name})")
            self._h = None
