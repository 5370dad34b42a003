"""The integer ``#define``s of probe.h, for code that must work without the compiled probe.

probe.h is the one place struct array sizes and the wire frame's constants are written; cffi hands
the same defines to Python as ``lib.PROBE_*``. Code that calls the probe reads them from ``lib``;
pure code (verdicts, maths, profile checks) is importable without the compiled module, so it reads
them here, from the header's text. tests/system checks that both agree.
"""
from __future__ import annotations

import pathlib
import re

HEADER = pathlib.Path(__file__).with_name("probe.h")
_DEFINE = re.compile(r"^#define\s+(PROBE_\w+)\s+(0x[0-9A-Fa-f]+|\d+)\b", re.M)


def parse(text: str) -> dict[str, int]:
    """``#define PROBE_X <integer>`` lines of a header -> {name: value}."""
    return {m.group(1): int(m.group(2), 0) for m in _DEFINE.finditer(text)}


DEFINES: dict[str, int] = parse(HEADER.read_text())


def define(name: str) -> int:
    """The value of ``#define name`` in probe.h; KeyError names what is missing."""
    try:
        return DEFINES[name]
    except KeyError:
        raise KeyError(f"{name} is not an integer #define of {HEADER}") from None
