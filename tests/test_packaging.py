"""The installed package: every module imports under lexkit.*, no bare folder names leak, import stays light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, tmp_path) -> dict:
    # subtle: run outside the repository so the bare source folders cannot shadow the installed package.
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_every_module_imports_from_the_installed_package(tmp_path):
    result = _run("""
        import importlib, importlib.util, json, pkgutil, sys
        import lexkit
        names = [m.name for m in pkgutil.walk_packages(lexkit.__path__, "lexkit.")]
        for name in names:
            importlib.import_module(name)
        print(json.dumps({
            "names": names,
            "bare": [n for n in sys.modules if n.split(".")[0] in ("vocab", "transfer", "analysis", "cli")],
            "findable": [n for n in ("vocab", "transfer", "analysis", "cli") if importlib.util.find_spec(n)],
        }))
    """, tmp_path)
    for sub in ("lexkit.vocab", "lexkit.transfer", "lexkit.analysis", "lexkit.cli", "lexkit.formats.hf",
                "lexkit.cli.main", "lexkit.vocab.bpe"):
        assert sub in result["names"]
    assert result["bare"] == []
    assert result["findable"] == []


def test_import_lexkit_loads_no_heavy_dependency(tmp_path):
    result = _run("""
        import json, sys
        import lexkit
        heavy = ["torch", "transformers", "faiss", "datasets", "sentencepiece", "tiktoken", "click", "tokenizers"]
        print(json.dumps([m for m in heavy if m in sys.modules]))
    """, tmp_path)
    assert result == []


def test_py_typed_is_shipped(tmp_path):
    result = _run("""
        import json, pathlib, lexkit
        print(json.dumps((pathlib.Path(lexkit.__file__).parent / "py.typed").exists()))
    """, tmp_path)
    assert result is True


def test_the_whole_package_imports_from_the_source_tree():
    # `python -c` in the repository root puts the bare lexkit/ folder first; the core finds its sibling folders.
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import json, lexkit, lexkit.vocab.bpe, lexkit.transfer, lexkit.analysis, lexkit.cli.main
        print(json.dumps([lexkit.__file__, lexkit.vocab.__file__, lexkit.vocab.bpe.__file__,
                          lexkit.cli.main.__file__, str(lexkit._SOURCE_ROOT)]))
    """)], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    core, vocab, bpe, cli, source_root = (Path(p) for p in json.loads(out.stdout))
    assert core == root / "lexkit" / "__init__.py"
    assert (vocab, bpe, cli) == (root / "vocab" / "__init__.py", root / "vocab" / "bpe.py", root / "cli" / "main.py")
    assert source_root == root


def test_an_installed_package_never_uses_the_source_tree_finder(tmp_path):
    result = _run("""
        import json, sys, lexkit, lexkit.vocab
        print(json.dumps([lexkit._SOURCE_ROOT is None, "_SourceTreeFinder" in str(sys.meta_path),
                          lexkit.vocab.__file__.startswith(lexkit.__file__.rsplit("/", 1)[0])]))
    """, tmp_path)
    assert result == [True, False, True]


def test_the_source_tree_finder_maps_the_folders_setup_py_maps():
    setup = ast.parse((Path(__file__).resolve().parent.parent / "setup.py").read_text(encoding="utf-8"))
    folders = next(ast.literal_eval(node.value) for node in ast.walk(setup)
                   if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FOLDERS")
    from lexkit import _SOURCE_FOLDERS

    assert {"lexkit": "lexkit", **_SOURCE_FOLDERS} == folders


def test_optional_dependencies_are_imported_only_through_require():
    # A function (or module) that imports an optional package must call lexkit.errors.require for it first, so
    # that a missing extra fails with MissingDependencyError naming the extra instead of a bare ImportError.
    from lexkit.errors import OPTIONAL_DEPENDENCIES

    def scopes(tree: ast.Module) -> list[list[ast.AST]]:
        skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and
                   "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(n) for f in functions for n in ast.walk(f) if n is not f}
        found = [[n for n in ast.walk(tree) if id(n) not in inside and id(n) not in skipped]]
        found += [[n for n in ast.walk(f) if id(n) not in skipped] for f in functions]
        return [sorted((n for n in nodes if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
                for nodes in found]

    root = Path(__file__).resolve().parent.parent
    unguarded = []
    for folder in ("lexkit", "vocab", "transfer", "analysis", "cli"):
        for path in sorted((root / folder).rglob("*.py")):
            for nodes in scopes(ast.parse(path.read_text(encoding="utf-8"))):
                required: set[str] = set()
                for node in nodes:
                    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "require" and node.args and \
                            isinstance(node.args[0], ast.Constant):
                        required.add(node.args[0].value.split(".")[0])
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                    for name in names:
                        if name.split(".")[0] in OPTIONAL_DEPENDENCIES and name.split(".")[0] not in required:
                            unguarded.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
    assert unguarded == []


def test_every_name_in_an_all_exists(tmp_path):
    result = _run("""
        import importlib, json, pkgutil
        import lexkit
        missing, with_all = [], 0
        for info in pkgutil.walk_packages(lexkit.__path__, "lexkit."):
            module = importlib.import_module(info.name)
            names = getattr(module, "__all__", None)
            with_all += names is not None
            missing += [f"{info.name}.{name}" for name in names or () if not hasattr(module, name)]
        print(json.dumps({"missing": missing, "with_all": with_all,
                          "core": sorted(set(lexkit.__all__) - set(dir(lexkit)))}))
    """, tmp_path)
    assert result["missing"] == [] and result["core"] == []
    assert result["with_all"] >= 25
