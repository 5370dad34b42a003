"""profiles/README.md's key tables, generated from the key declarations (harness/profile/sections.py).

``python -m harness.profile.doc`` rewrites the table under each ``## `[section]` `` heading;
tests/unit/test_profile_doc.py fails when the README and the declarations differ.
"""
from __future__ import annotations

import dataclasses
import pathlib
import sys

from harness.profile.sections import SECTIONS, KeySpec, keys_of, toml_name
from harness.profile.table import range_text, toml

README = pathlib.Path(__file__).resolve().parents[2] / "profiles" / "README.md"
HEADER = ["| Key | Type | Default | Range | Meaning |", "|-----|------|---------|-------|---------|"]
TYPES = {"int": "integer", "float": "number", "bool": "bool", "str": "string", "float | None": "number"}


def _row(f: dataclasses.Field, spec: KeySpec) -> str:
    kind = spec.type_text or TYPES[str(f.type)]
    if spec.default_text is not None:
        default = spec.default_text
    else:
        default = f"`{toml(f.default)}`"
    if spec.range_text is not None:
        rng = spec.range_text
    elif spec.choices is not None:
        rng = f"`{' '.join(spec.choices)}`"
    else:
        rng = range_text(spec.lo, spec.hi, spec.lo_open, spec.hi_open)
    name = spec.doc_name or toml_name(f, spec)
    return f"| `{name}` | {kind} | {default} | {rng} | {spec.help} |".replace("|  |", "| |")


def table(cls: type) -> list[str]:
    """The README table of one section's keys."""
    return HEADER + [_row(f, spec) for f, spec in keys_of(cls)]


def render(text: str) -> str:
    """``text`` (profiles/README.md) with every section's key table regenerated."""
    lines = text.split("\n")
    for name, cls in SECTIONS.items():
        head = next((i for i, line in enumerate(lines) if line.startswith(f"## `[{name}]`")), None)
        if head is None:
            raise ValueError(f"profiles/README.md has no '## `[{name}]`' heading for its key table")
        start = next(i for i in range(head, len(lines)) if lines[i].startswith("| Key |"))
        end = start
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines[start:end] = table(cls)
    return "\n".join(lines)


def main() -> int:
    README.write_text(render(README.read_text()))
    print(f"wrote the key tables of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
