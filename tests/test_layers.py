"""The import layers hold: read every module's imports with `ast` and fail on an upward, circular or private import.

Layers (docs/design.md): ``lexkit.cli`` -> ``lexkit.vocab``, ``lexkit.transfer``, ``lexkit.analysis`` -> the core
``lexkit``. The three feature packages are peers: none imports another (what combines them is orchestration, which
belongs in the CLI). The core imports none of them.

Which imports count:
- Module-level and function-local imports alike, and imports by string (a module that calls ``import_module`` on a
  literal module name). A function-local import that closes a circle only postpones the cycle; it does not remove
  it, so cycles are checked with function-local imports included.
- Imports under ``if TYPE_CHECKING:`` never run and are skipped.
- A package ``__init__`` importing a module inside its own package (a re-export facade or a lazy registry) is no
  cycle edge: Python always starts the parent package before the child, so the reverse edge is the only one that
  can fail, and that one is counted.
- A private name (one leading underscore) is imported only from a module of the importer's own package; the
  public names of a private module (``lexkit._visual_engine``) may be imported at or above its layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Import name of each source folder (setup.py maps the folders into one namespace).
FOLDERS = {"lexkit": "lexkit", "lexkit.vocab": "vocab", "lexkit.transfer": "transfer",
           "lexkit.analysis": "analysis", "lexkit.cli": "cli"}

#: Layer rank of each top package; a module may import its own package or one of lower rank. Equal ranks are
#: peers that may not import each other.
RANKS = {"lexkit": 0, "lexkit.vocab": 1, "lexkit.transfer": 1, "lexkit.analysis": 1, "lexkit.cli": 2}

@dataclass(frozen=True)
class Module:
    """One source module: its import name, whether it is a package ``__init__``, and its source text."""

    name: str
    is_package: bool
    source: str

    @property
    def package(self) -> str:
        """The package this module belongs to (itself for a package ``__init__``)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` (a module name); ``names`` are the names it takes from it."""

    importer: str
    target: str
    names: tuple[str, ...] = ()


def source_modules(root: Path = ROOT) -> dict[str, Module]:
    """Every module of the five folders under its ``lexkit.*`` name; compiled kernels count through their stubs."""
    modules = {}
    for package, folder in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py*")):
            if path.suffix not in (".py", ".pyi") or "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([package, *parts])
            if name in modules:  # a compiled kernel's stub beside its source: one module
                continue
            modules[name] = Module(name, is_package, path.read_text(encoding="utf-8"))
    return modules


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _resolve(target: str, modules: Mapping[str, Module]) -> str | None:
    """The longest prefix of ``target`` that is a known module, or None outside lexkit."""
    while target not in modules:
        if "." not in target:
            return None
        target = target.rpartition(".")[0]
    return target


def imports(module: Module, modules: Mapping[str, Module]) -> Iterator[Edge]:
    """Every lexkit import of ``module``: statements anywhere (not under TYPE_CHECKING) and string imports."""
    tree = ast.parse(module.source)
    skipped = _skipped_nodes(tree)
    string_imports = "import_module" in module.source
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    yield Edge(module.name, target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    yield Edge(module.name, f"{source}.{alias.name}")
                elif (target := _resolve(source, modules)) is not None:
                    yield Edge(module.name, target, (alias.name,) if target == source else ())
        elif string_imports and isinstance(node, ast.Constant) and node.value in modules:
            yield Edge(module.name, node.value)


def top_package(name: str) -> str:
    """The folder package that holds ``name`` (``lexkit`` for the core)."""
    return next((top for top in RANKS if top != "lexkit" and (name == top or name.startswith(top + "."))), "lexkit")


def violations(modules: Mapping[str, Module]) -> set[str]:
    """Every upward import, import cycle and cross-package private-name import, one line each."""
    found: set[str] = set()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module in modules.values():
        for edge in imports(module, modules):
            if edge.target == module.name:
                continue
            low, high = top_package(edge.target), top_package(module.name)
            if low != high and RANKS[low] >= RANKS[high]:
                found.add(f"upward: {module.name} -> {edge.target}")
            for name in edge.names:
                if name.startswith("_") and not name.startswith("__") and modules[edge.target].package != \
                        module.package:
                    found.add(f"private: {module.name} imports {edge.target}.{name}")
            inside_own_package = module.is_package and edge.target.startswith(module.name + ".")
            if not inside_own_package:
                graph[module.name].add(edge.target)
    found.update(f"cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each module that is on a cycle, starting at its smallest name, deduplicated."""
    found: dict[tuple[str, ...], list[str]] = {}
    for start in sorted(graph):
        # breadth-first search back to start: the shortest cycle through it
        parents: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in parents:
            next_frontier = []
            for node in frontier:
                for target in sorted(graph.get(node, ())):
                    if target not in parents:
                        parents[target] = node
                        next_frontier.append(target)
            frontier = next_frontier
        if start in parents:
            path, node = [], start
            while True:
                node = parents[node]
                if node == start:
                    break
                path.append(node)
            path = [start, *reversed(path)]
            first = path.index(min(path))
            path = path[first:] + path[:first]
            found.setdefault(tuple(path), [*path, path[0]])
    return list(found.values())


def test_the_tree_has_no_layer_violation():
    found = violations(source_modules())
    assert not found, "imports that break the layers (docs/design.md):\n" + "\n".join(sorted(found))


def test_the_checker_reads_every_folder():
    modules = source_modules()
    for name in ("lexkit", "lexkit.tokenizer", "lexkit.formats.hf", "lexkit.vocab.bpe", "lexkit.vocab.byte_lm.ngram",
                 "lexkit.transfer", "lexkit.analysis", "lexkit.cli.main", "lexkit.vocab._merge_kernel"):
        assert name in modules
    edges = {(edge.importer, edge.target) for module in modules.values() for edge in imports(module, modules)}
    assert ("lexkit.cli.train", "lexkit.vocab") in edges  # a package import
    assert ("lexkit.vocab._merge_engine", "lexkit.vocab._merge_kernel") in edges  # from package import module


def _planted(tmp_path: Path, files: Mapping[str, str]) -> Path:
    """A copy of the tree's five folders with ``files`` (relative path -> appended source) planted in it."""
    for folder in FOLDERS.values():
        for path in (ROOT / folder).rglob("*.py*"):
            if path.suffix in (".py", ".pyi") and "__pycache__" not in path.parts:
                copy = tmp_path / path.relative_to(ROOT)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for relative, source in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(source)
    return tmp_path


@pytest.mark.parametrize(("files", "expected"), [
    ({"lexkit/vocabulary.py": "\n\ndef _late():\n    from lexkit.transfer import transplant\n"},
     "upward: lexkit.vocabulary -> lexkit.transfer.transplant"),
    ({"vocab/bpe.py": "\nimport lexkit.cli.main\n"}, "upward: lexkit.vocab.bpe -> lexkit.cli.main"),
    ({"transfer/planted.py": "from lexkit.analysis import metrics\n"},
     "upward: lexkit.transfer.planted -> lexkit.analysis.metrics"),
    ({"lexkit/planted_a.py": "from lexkit import planted_b\n", "lexkit/planted_b.py": "import lexkit.planted_a\n"},
     "cycle: lexkit.planted_a -> lexkit.planted_b -> lexkit.planted_a"),
    ({"lexkit/planted.py": "import importlib\nimportlib.import_module('lexkit.cli.main')\n"},
     "upward: lexkit.planted -> lexkit.cli.main"),
    ({"analysis/planted.py": "from lexkit.vocabulary import _private_helper\n"},
     "private: lexkit.analysis.planted imports lexkit.vocabulary._private_helper"),
])
def test_the_checker_fails_on_a_planted_violation(tmp_path, files, expected):
    found = violations(source_modules(_planted(tmp_path, files)))
    assert expected in found


def test_type_checking_imports_and_package_facades_are_no_violation():
    modules = {
        "lexkit": Module("lexkit", True, "from lexkit.feature import Thing\n"),
        "lexkit.feature": Module("lexkit.feature", False, "from lexkit import _version\n"),
        "lexkit._version": Module("lexkit._version", False, ""),
        "lexkit.vocab": Module("lexkit.vocab", True, "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                     "    from lexkit.cli import main\n"),
        "lexkit.cli": Module("lexkit.cli", True, ""),
        "lexkit.cli.main": Module("lexkit.cli.main", False, ""),
    }
    assert violations(modules) == set()
    modules["lexkit._version"] = Module("lexkit._version", False, "from lexkit.feature import Thing\n")
    assert violations(modules) == {"cycle: lexkit._version -> lexkit.feature -> lexkit._version"}
