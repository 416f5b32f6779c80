"""The installed package: every module imports under lexkit.*, no bare folder names leak, import stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


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
