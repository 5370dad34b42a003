"""The layout holds: ruff and mypy are clean, each area's model imports without the compiled probe,
only the probe's face and the areas' native.py reach cffi's ``lib``, and imports only point down."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"
AREAS = ("rss", "perf", "affinity", "mempool", "zerocopy", "audit")

#: layers, lowest first: a module imports only modules of its own layer or a lower one
LAYERS = [
    {"harness", "harness.errors", "harness.native.defines", "harness.frames", "harness.area", "harness.registry",
     "harness.interrupts"},
    {"harness.system.*"},
    {"harness.profile", "harness.profile.*", "harness.probe", "harness.probe.*", "harness.capabilities"},
    {"harness.topology", "harness.lab.model", "harness.lab.initramfs", "harness.soak.model", "harness.rss.verdicts", "harness.perf.latency"} | {f"harness.{a}.model" for a in AREAS},
    {"harness.traffic", "harness.session", "harness.preflight"} | {f"harness.{a}.native" for a in AREAS},
    {"harness.stash", "harness.activation", "harness.fixtures", "harness.audit.fixtures", "harness.lab", "harness.lab.run", "harness.soak",
     "harness.soak.run"}
    | {f"harness.{a}.run" for a in AREAS} | {f"harness.{a}" for a in AREAS},
    {"harness.report.*", "harness.report"},
    {"harness.plugin", "harness.__main__", "harness.native.build", "harness.pytest_main"},
]


def _tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean():
    """pyproject.toml [tool.ruff]; `ruff check --fix` repairs import order and most of the rest."""
    res = _tool("ruff", "check", "--no-cache", ".")
    assert res.returncode == 0, f"ruff found problems (pip install -e '.[test]' installs ruff):\n{res.stdout}{res.stderr}"


def test_mypy_is_clean_on_the_pure_modules():
    """pyproject.toml [tool.mypy] lists the pure modules (models, frames, procfs, errors)."""
    res = _tool("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert res.returncode == 0, f"mypy found problems (pip install -e '.[test]' installs mypy):\n{res.stdout}{res.stderr}"


def test_models_import_without_the_compiled_probe():
    code = ("import sys; sys.modules['harness._probe'] = None\n"
            + "".join(f"import harness.{a}.model\n" for a in AREAS)
            + "import harness.rss.verdicts, harness.perf.latency, harness.frames, harness.system.procfs\n"
            + "loaded = sorted(m for m in sys.modules if m in ('harness.probe', 'harness._probe') and sys.modules[m])\n"
            + "assert not loaded, loaded\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"a model pulls in the probe:\n{res.stderr}"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in HARNESS.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """Every harness module ``name`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m in known and m != name}


def _layer(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer or any(p.endswith(".*") and name.startswith(p[:-1]) for p in layer):
            return i
    raise AssertionError(f"{name} is in no layer of tests/unit/test_layout.py LAYERS: add it where it belongs")


def test_imports_point_down_and_never_cycle():
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    upward = [f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
              for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)]
    assert not upward, "upward imports: " + "; ".join(sorted(upward))

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    return path + [dep]
                if dep not in path:
                    stack.append((dep, path + [dep]))
        return None

    cycles = [" -> ".join(c) for c in map(cycle_from, sorted(graph)) if c]
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_only_the_probe_face_and_native_modules_call_lib():
    allowed = set((HARNESS / "probe").glob("*.py")) | {HARNESS / "native" / "build.py"} | {HARNESS / a / "native.py" for a in AREAS}
    callers = []
    for path in sorted(HARNESS.rglob("*.py")) + sorted((ROOT / "suites").rglob("*.py")):
        tree = ast.parse(path.read_text())
        uses = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                and n.value.id in ("lib", "ffi")}
        uses |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
                 if a.name in ("lib", "ffi")}
        if uses and path not in allowed:
            callers.append(f"{path.relative_to(ROOT)} ({', '.join(sorted(uses))})")
    assert not callers, ("cffi lib/ffi used outside harness/probe/ and harness/<area>/native.py: "
                         + "; ".join(callers) + "; move the call into the area's native.py")


@pytest.mark.parametrize("area", AREAS)
def test_each_area_is_a_package_with_a_model(area):
    assert (HARNESS / area / "model.py").is_file(), f"harness/{area}/model.py is missing"
    assert not (HARNESS / f"{area}.py").exists(), f"harness/{area}.py shadows the harness/{area}/ package"


def test_every_registered_topology_has_a_builder_and_a_readme_row():
    from harness import registry, topology

    assert set(topology.BUILDERS) == set(registry.TOPOLOGIES), (
        "harness/registry.py TOPOLOGIES and harness/topology.py BUILDERS differ: give each topology both")
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in registry.TOPOLOGIES if f"| `{name}`" not in readme]
    assert not missing, f"README.md's topology table lacks {missing}: add a row for each"
