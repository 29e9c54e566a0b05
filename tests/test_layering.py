"""The import graph of the library: one direction between layers and no cycle between modules.

Layers, lowest first (DESIGN.md §1): `tasks`, `compute`, `hub` (transport only) and `atomic` import nothing of the
library;
then `envs`; `datasets_builders`, `data`, `rewards`; `models`; `trainers`; `evaluation`; `model_card`; `study`, `cli`.
Every import counts, function-level ones too (`ast` reads them all), so a cycle cannot hide inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sft_vs_rl

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    ("tasks", "compute", "hub", "atomic"),
    ("envs",),
    ("datasets_builders", "data", "rewards"),
    ("models",),
    ("trainers",),
    ("evaluation",),
    ("model_card",),
    ("study", "cli"),
)
RANK = {layer: rank for rank, names in enumerate(LAYERS) for layer in names}
LAZY_ROOT_NAMES = sft_vs_rl._LAZY_EXPORTS  # `from sft_vs_rl import X` of the package's lazy exports


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    files = [*ROOT.glob("sft_vs_rl/**/*.py"), *ROOT.glob("datasets_builders/**/*.py")]
    return {_module_name(path): path for path in files}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Library modules that `name` imports (relative imports resolved, `from pkg import sub` read as `pkg.sub`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "sft_vs_rl":
                targets = [LAZY_ROOT_NAMES.get(alias.name, f"sft_vs_rl.{alias.name}") for alias in node.names]
            else:
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "datasets_builders":
        return "datasets_builders"
    return parts[1] if len(parts) > 1 else None  # the package root only registers the environments


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_layers_import_downward_only():
    upward = []
    for module, targets in _graph().items():
        source = _layer(module)
        for target in targets:
            dest = _layer(target)
            if source and dest and source != dest and RANK[dest] > RANK[source]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_modules():
    graph = _graph()
    # A package's __init__ re-exporting its own submodules is not a dependency of those submodules on each other.
    edges = {m: {t for t in ts if not (m.startswith(t + ".") and _modules_is_package(t))} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _modules_is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def test_every_library_layer_is_ranked():
    assert {_layer(m) for m in _modules()} - {None} <= set(RANK)
