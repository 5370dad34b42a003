"""What an area package (rss, perf, affinity, mempool, zerocopy) exports.

Each area is ``model.py`` (pure maths and verdicts, importable without the compiled probe),
``native.py`` (the area's only caller of the probe's ``lib``) and ``run.py`` (orchestration).
``from harness import rss; rss.spread(...)`` finds a name in the first part that has it, importing
parts only when asked, so ``import harness.rss.model`` never loads the probe.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any


def exports(package: str, parts: Sequence[str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that looks ``name`` up in ``parts``, in order."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for part in parts:
            module = importlib.import_module(f"{package}.{part}")
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r} (looked in {', '.join(parts)})")

    return __getattr__
