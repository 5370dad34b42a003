"""profiles/README.md's key tables are the ones the key declarations give (harness/profile/sections.py)."""
from __future__ import annotations

from harness.profile import doc
from harness.profile.sections import SECTIONS, keys_of, toml_name


def test_readme_key_tables_match_the_declarations():
    text = doc.README.read_text()
    assert doc.render(text) == text, (
        "profiles/README.md's key tables differ from harness/profile/sections.py; "
        "run `python -m harness.profile.doc` to regenerate them")


def test_every_declared_key_is_in_the_readme():
    text = doc.README.read_text()
    for cls in SECTIONS.values():
        for f, spec in keys_of(cls):
            name = spec.doc_name or toml_name(f, spec)
            assert f"| `{name}` |" in text, f"{name} is missing from profiles/README.md"


def test_a_changed_declaration_shows_in_the_table():
    rows = doc.table(SECTIONS["queues"])
    assert "| `burst` | integer | `32` | 1..512 | Packets per rx/tx burst in the worker loops. |" in rows
