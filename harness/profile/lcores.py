"""EAL ``--lcores`` syntax: ``"0-1"``, ``"0@0,1@1"``, ``"1@(0,1)"``, ``"(0,1)@(2-5)"``."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError
from harness.profile.table import Bad, desc, id_list

MAX_LCORE_ID = 1023        # CPU_SETSIZE - 1; DPDK builds default to RTE_MAX_LCORE = 128
MAX_CPU_ID = 1023


@dataclass(frozen=True)
class LcoreMap:
    """One EAL lcore and the set of CPUs its thread may run on."""

    lcore: int
    cpus: frozenset[int]


def default_lcores() -> tuple[LcoreMap, ...]:
    return (LcoreMap(0, frozenset({0})), LcoreMap(1, frozenset({1})))


def lcores_arg(lcores: Sequence[LcoreMap]) -> str:
    """The EAL ``--lcores`` value, explicit form: ``"0@0,1@1"``, ``"1@(0,1)"``."""
    parts = []
    for m in lcores:
        cpus = sorted(m.cpus)
        if len(cpus) == 1:
            parts.append(f"{m.lcore}@{cpus[0]}")
        else:
            parts.append(f"{m.lcore}@({id_list(cpus, min_run=3)})")
    return ",".join(parts)


_NUM = r"\d+"
_RANGE = rf"{_NUM}(?:-{_NUM})?"
_GROUP = rf"\({_RANGE}(?:,{_RANGE})*\)"
_ITEM_RE = re.compile(rf"(?P<l>{_RANGE}|{_GROUP})(?:@(?P<c>{_NUM}|{_GROUP}))?")
_LCORES_FIX = ('write comma-separated items L, L-M, L@C or L@(C1,C2-C3), '
               'e.g. "0-1", "0@0,1@1" or "1@(0,1)"')


def _split_top(s: str) -> list[str]:
    items: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    return items


def _expand(text: str, key: str, what: str, limit: int) -> list[int]:
    body = text[1:-1] if text.startswith("(") else text
    out: list[int] = []
    for part in body.split(","):
        a, _, b = part.partition("-")
        lo = int(a)
        hi = int(b) if b else lo
        if hi < lo:
            raise Bad(key, f"range {part} runs backwards", f"write {hi}-{lo}")
        if hi > limit:
            raise Bad(key, f"{what} {hi} is out of range 0..{limit}", f"use {what} ids up to {limit}")
        out.extend(range(lo, hi + 1))
    return out


def read_lcores(text: Any, key: str) -> tuple[LcoreMap, ...]:
    if not isinstance(text, str):
        raise Bad(key, f"expected a string, got {desc(text)}", _LCORES_FIX)
    s = re.sub(r"\s+", "", text)
    if not s:
        raise Bad(key, "is empty", _LCORES_FIX)
    seen: set[int] = set()
    maps: list[LcoreMap] = []
    for item in _split_top(s):
        m = _ITEM_RE.fullmatch(item)
        if not m:
            what = f"empty item in {text!r}" if not item else f"cannot parse {item!r} in {text!r}"
            raise Bad(key, what, _LCORES_FIX)
        lset = _expand(m["l"], key, "lcore", MAX_LCORE_ID)
        group_cpus = None
        if m["c"] is not None:
            group_cpus = frozenset(_expand(m["c"], key, "CPU", MAX_CPU_ID))
        elif m["l"].startswith("("):
            group_cpus = frozenset(lset)  # DPDK: "(0,1)" without @ puts each lcore on all of them
        for lc in lset:
            if lc in seen:
                raise Bad(key, f"lcore {lc} is given twice in {text!r}", "give each lcore id once")
            seen.add(lc)
            maps.append(LcoreMap(lc, group_cpus if group_cpus is not None else frozenset({lc})))
    return tuple(sorted(maps, key=lambda lm: lm.lcore))


def check_lcore_count(maps: Sequence[LcoreMap], key: str) -> None:
    if len(maps) < 2:
        raise Bad(
            key,
            f"{len(maps)} lcore given; the harness needs at least 2 "
            "(the main lcore plus a worker lcore for the traffic loops)",
            'e.g. "0-1", or "0@0,1@0" on a host with one CPU',
        )


def parse_lcores(text: str) -> tuple[LcoreMap, ...]:
    """Parse EAL ``--lcores`` syntax; raise a one-line :class:`UsageError` if malformed."""
    try:
        return read_lcores(text, "lcores")
    except Bad as b:
        raise UsageError(b.line()) from None


def format_lcores(maps: Sequence[LcoreMap]) -> str:
    """A readable lcore string: ``"0-3"`` when every lcore is on its own CPU, else explicit."""
    maps = sorted(maps, key=lambda lm: lm.lcore)
    if all(m.cpus == frozenset({m.lcore}) for m in maps):
        return id_list((m.lcore for m in maps), min_run=2)
    parts = []
    for m in maps:
        if len(m.cpus) == 1:
            parts.append(f"{m.lcore}@{next(iter(m.cpus))}")
        else:
            parts.append(f"{m.lcore}@({id_list(m.cpus, min_run=3)})")
    return ",".join(parts)
