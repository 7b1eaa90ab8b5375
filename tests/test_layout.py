"""The package's shape (ARCHITECTURE.md): layers that import downwards only, no import cycles,
no private names or methods used across modules, kinds of run as plug-ins.

Imports are read from the source with ``ast``, imports inside functions included: they
hide cycles from Python at import time, not from a reader.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "vaelab"

# Lowest first. A module may import modules of its own layer or of layers below it.
LAYERS = (
    ("floor", ("errors", "config", "runtime", "progress", "files")),
    ("data", ("data",)),
    ("networks", ("nn",)),
    ("training", ("train", "distributed")),
    ("run folder", ("checkpoint", "metrics_schema")),
    ("model interface", ("model",)),
    ("figures and report", ("report",)),
    ("analyses", ("analysis",)),
    ("models", ("estimator", "forecaster", "table_vae", "adopt", "specs", "model_libraries")),
    ("run layer", ("runs",)),
    ("commands", ("commands",)),
    ("command line", ("cli", "__main__")),
)
KINDS = ("vaelab.runs.array", "vaelab.runs.table", "vaelab.runs.series")  # one module per kind of run


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in module ``name``."""
    is_package = MODULES[name].name == "__init__.py"
    out = []
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                out.append((full, [], node.lineno) if full in MODULES else (base, [a.name], node.lineno))
    return out


def _internal(target: str) -> str | None:
    """The vaelab module an import lands in (the package face itself does not count)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target if target and target != PACKAGE else None


GRAPH = {m: {t for t in (_internal(i) for i, _, _ in _imports(m)) if t and t != m} for m in MODULES}


def _layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else None
    for rank, (_, members) in enumerate(LAYERS):
        if head in members:
            return rank
    raise AssertionError(f"{module} belongs to no layer; add it to LAYERS here and to ARCHITECTURE.md")


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != PACKAGE:
            _layer(module)


def test_there_are_no_import_cycles():
    cycles, state, stack = [], {}, []

    def visit(m):  # depth-first search; an edge back into the stack closes a cycle
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_point_down_the_layers():
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in GRAPH.items() if m != PACKAGE for t in targets if _layer(t) > _layer(m)]  # fmt: skip
    assert not upward, "\n".join(upward)


def test_no_private_name_is_imported_from_another_module():
    bad = [f"{m}:{line} takes {names} from {target}"
           for m in MODULES for target, names, line in _imports(m)
           if _internal(target) and any(n.startswith("_") and not n.startswith("__") for n in names)]  # fmt: skip
    assert not bad, "\n".join(bad)


def _private_methods(module: str) -> set[str]:
    return {f.name for c in ast.walk(TREES[module]) if isinstance(c, ast.ClassDef) for f in c.body
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("_")
            and not f.name.startswith("__")}  # fmt: skip


def test_no_private_method_is_called_from_another_module():
    """``obj._method(...)`` only where ``_method`` is a method of a class of the same module
    (``self._x()`` and ``cls._x()`` included): no module reaches into another's objects."""
    bad = []
    for m in MODULES:
        own = _private_methods(m)
        for node in ast.walk(TREES[m]):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr, receiver = node.func.attr, node.func.value
                mine = isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
                if attr.startswith("_") and not attr.startswith("__") and attr not in own and not mine:
                    bad.append(f"{m}:{node.lineno} calls .{attr}()")
    assert not bad, "\n".join(bad)


def test_kinds_of_run_are_plug_ins():
    """A kind imports nothing of the run layer but its base; only the registry names them all;
    no command imports a kind."""
    for kind in KINDS:
        runs = {t for t in GRAPH[kind] if t.startswith("vaelab.runs.")}
        assert runs <= {"vaelab.runs.base"}, f"{kind} imports {sorted(runs - {'vaelab.runs.base'})}"
    naming_all = [m for m, targets in GRAPH.items() if set(KINDS) <= targets]
    assert naming_all == ["vaelab.runs.kinds"], naming_all
    for m, targets in GRAPH.items():
        if m.startswith("vaelab.commands") or m == "vaelab.cli":
            assert not targets & set(KINDS), f"{m} imports {sorted(targets & set(KINDS))}"


def test_module_names_are_unique_unless_their_folders_tell_them_apart():
    """Two modules may share a name only in the pairs listed here, where the folder says which is which."""
    allowed = {("train", frozenset({"vaelab.train", "vaelab.runs.train"})),
               ("explore", frozenset({"vaelab.analysis.explore", "vaelab.commands.explore"}))}  # fmt: skip
    by_name: dict[str, set[str]] = {}
    for m in MODULES:
        if not MODULES[m].name == "__init__.py":
            by_name.setdefault(m.rpartition(".")[2], set()).add(m)
    shared = {(n, frozenset(ms)) for n, ms in by_name.items() if len(ms) > 1}
    assert shared <= allowed, sorted((n, sorted(ms)) for n, ms in shared - allowed)


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS])
def test_layers_are_not_empty(layer):
    members = dict(LAYERS)[layer]
    assert any(_layer(m) == [n for n, _ in LAYERS].index(layer) for m in MODULES if m != PACKAGE), members


def test_architecture_lists_every_module_and_only_modules_that_exist():
    """ARCHITECTURE.md's module table has one row per module of the package (package ``__init__.py`` files
    included) and per benchmark script, and every row names a file that exists (an audit, s13 f: the subpackages'
    ``__init__.py`` files and most of bench/ had no row)."""
    import re

    root = SRC.parent
    rows = set(re.findall(r"^\| `([^`]+\.py)` \|", (root / "ARCHITECTURE.md").read_text(encoding="utf-8"), re.M))
    files = {str(p.relative_to(SRC / PACKAGE)) for p in (SRC / PACKAGE).rglob("*.py")}
    files |= {f"bench/{p.name}" for p in (root / "bench").glob("*.py")}
    assert sorted(files - rows) == [], "modules without a row in ARCHITECTURE.md"
    assert sorted(rows - files) == [], "rows of ARCHITECTURE.md naming no file"
