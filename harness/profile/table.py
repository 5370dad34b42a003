"""Reading one TOML table of a profile: typed getters with ranges, and the one-line messages
(key, problem, fix) every profile error is made of."""
from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any


class FrozenMap(Mapping):
    """A read-only, hashable mapping (so frozen dataclasses holding one stay hashable)."""

    __slots__ = ("_d",)

    def __init__(self, items: Mapping | Iterable[tuple[Any, Any]] = ()):
        self._d = dict(items)

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self) -> Iterator:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return hash(frozenset(self._d.items()))

    def __eq__(self, other):
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._d!r})"


class Bad(Exception):
    """Internal: a validation failure, before the file path is known."""

    def __init__(self, key: str | None, problem: str, fix: str | None = None):
        super().__init__(key, problem, fix)
        self.key, self.problem, self.fix = key, problem, fix

    def line(self) -> str:
        msg = f"{self.key}: {self.problem}" if self.key else self.problem
        return f"{msg}; {self.fix}" if self.fix else msg


def lit(v: Any) -> str:
    """A value as it would be written in TOML (strings as Python repr, as in the messages)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {lit(x)}" for k, x in v.items()) + "}"
    return repr(v)


def toml(v: Any) -> str:
    """A value in real TOML syntax, for fixes the user can paste."""
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    return lit(v)


def type_name(v: Any) -> str:
    if isinstance(v, Mapping):
        return "table"
    if isinstance(v, (list, tuple)):
        return "array"
    return type(v).__name__


def desc(v: Any) -> str:
    text = lit(v)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type_name(v)})"


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def num(v: float) -> str:
    """Numbers in messages: 5.0 -> 5, 0.05 -> 0.05."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def id_list(ids: Iterable[int], min_run: int = 2) -> str:
    """Sorted ids as a compact list: runs of at least ``min_run`` become ``a-b``."""
    ids = sorted(set(ids))
    out: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j - i + 1 >= min_run and j > i:
            out.append(f"{ids[i]}-{ids[j]}")
        else:
            out.extend(str(x) for x in ids[i : j + 1])
        i = j + 1
    return ",".join(out)


def range_text(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is not None and hi is not None and not lo_open and not hi_open:
        return f"{num(lo)}..{num(hi)}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {num(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {num(hi)}")
    return " and ".join(parts)


def in_range(v, lo, hi, lo_open=False, hi_open=False) -> bool:
    if lo is not None and (v <= lo if lo_open else v < lo):
        return False
    return not (hi is not None and (v >= hi if hi_open else v > hi))


def range_error(key, v, lo, hi, lo_open=False, hi_open=False, default=None) -> Bad:
    text = range_text(lo, hi, lo_open, hi_open)
    closed = lo is not None and hi is not None and not lo_open and not hi_open
    problem = f"{num(v)} is out of range {text}" if closed else f"{num(v)} is out of range: must be {text}"
    fix = f"use a value {'in ' if closed else ''}{text}"
    if default is not None:
        fix += f" (default {lit(default)})"
    return Bad(key, problem, fix)


MISSING = object()


class Table:
    """One TOML table being read: unknown keys are rejected up front."""

    def __init__(self, data: Any, prefix: str, known: Sequence[str], label: str):
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise Bad(prefix, f"expected a table {label}, got {desc(data)}", f"write it as a {label} section")
        self.data, self.prefix, self.known, self.label = data, prefix, tuple(known), label
        for k in data:
            if k not in self.known:
                raise unknown_key(self.key(k), str(k), self.known, f"known keys in {label}")

    def key(self, k: str) -> str:
        return f"{self.prefix}.{k}" if self.prefix else k

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str, default: Any = None) -> Any:
        return self.data.get(k, default)

    def type_bad(self, k: str, v: Any, kind: str, example: Any) -> Bad:
        fix = f"write e.g. {k} = {toml(example)}" if example is not MISSING else f"write {kind}"
        return Bad(self.key(k), f"expected {kind}, got {desc(v)}", fix)

    def get_int(self, k, default=MISSING, lo=None, hi=None, example=MISSING) -> int:
        v = self.data.get(k, default)
        if v is MISSING:
            raise Bad(self.key(k), "is missing", f"add {k} = {toml(example)}")
        if not is_int(v):
            raise self.type_bad(k, v, "an integer", default if example is MISSING else example)
        if not in_range(v, lo, hi):
            raise range_error(self.key(k), v, lo, hi, default=None if default is MISSING else default)
        return v

    def get_float(self, k, default=MISSING, lo=None, hi=None, lo_open=False, hi_open=False,
                  example=MISSING) -> float:
        v = self.data.get(k, default)
        if v is MISSING:
            raise Bad(self.key(k), "is missing", f"add {k} = {toml(example)}")
        return check_float(self.key(k), k, v, lo, hi, lo_open, hi_open,
                            None if default is MISSING else default,
                            default if example is MISSING else example)

    def get_bool(self, k, default: bool) -> bool:
        v = self.data.get(k, default)
        if not isinstance(v, bool):
            raise Bad(self.key(k), f"expected true or false, got {desc(v)}",
                       f"write {k} = true or {k} = false, without quotes")
        return v

    def get_str(self, k, default: str, choices: Sequence[str] | None = None) -> str:
        v = self.data.get(k, default)
        if not isinstance(v, str):
            raise self.type_bad(k, v, "a string", default)
        if choices is not None and v not in choices:
            raise choice_error(self.key(k), v, choices)
        return v

    def get_list(self, k, default: Sequence) -> list:
        v = self.data.get(k, MISSING)
        if v is MISSING:
            return list(default)
        if not isinstance(v, (list, tuple)):
            raise self.type_bad(k, v, "an array", list(default) or ["..."])
        return list(v)


def check_float(key, short, v, lo, hi, lo_open, hi_open, default, example) -> float:
    if not is_num(v):
        raise Bad(key, f"expected a number, got {desc(v)}", f"write e.g. {short} = {toml(example)}")
    if not math.isfinite(v):
        raise Bad(key, f"{v!r} is not a finite number", f"write e.g. {short} = {toml(example)}")
    if not in_range(v, lo, hi, lo_open, hi_open):
        raise range_error(key, v, lo, hi, lo_open, hi_open, default)
    return float(v)


def unknown_key(key: str, name: str, known: Sequence[str], known_label: str, what: str = "key") -> Bad:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}? " if close else ""
    fix += f"{known_label}: {', '.join(known)}"
    return Bad(key, f"unknown {what}", fix)


def choice_error(key: str, v: str, choices: Sequence[str]) -> Bad:
    close = difflib.get_close_matches(v, choices, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}? " if close else ""
    return Bad(key, f"{v!r} is not one of {', '.join(choices)}", fix + "choose one of those")
