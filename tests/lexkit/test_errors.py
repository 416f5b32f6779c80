"""MissingDependencyError names what to install: the extra for an optional dependency, a reinstall otherwise."""

from __future__ import annotations

import re
import sys
from importlib.metadata import requires

import pytest

from lexkit.errors import OPTIONAL_DEPENDENCIES, MissingDependencyError, require


def _missing(monkeypatch: pytest.MonkeyPatch, root: str) -> None:
    """Make ``root`` and its submodules unimportable (a None entry in sys.modules raises ImportError)."""
    for name in [n for n in sys.modules if n == root or n.startswith(root + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, root, None)


@pytest.mark.parametrize("root", sorted(OPTIONAL_DEPENDENCIES))
def test_a_missing_optional_dependency_names_its_extra(monkeypatch, root):
    extra, _ = OPTIONAL_DEPENDENCIES[root]
    _missing(monkeypatch, root)
    with pytest.raises(MissingDependencyError, match=rf"pip install 'lexkit\[{extra}\]'") as caught:
        require(f"{root}.sub" if root == "skimage" else root)
    assert isinstance(caught.value, ImportError)


def test_a_missing_required_dependency_asks_for_a_reinstall(monkeypatch):
    _missing(monkeypatch, "tiktoken")
    with pytest.raises(MissingDependencyError, match=r"required dependency.*pip install --force-reinstall lexkit"):
        require("tiktoken")


def test_a_feature_with_its_extra_missing_fails_naming_the_extra(monkeypatch, tmp_path):
    from lexkit.transfer.gguf_embeddings import read_gguf_embeddings

    _missing(monkeypatch, "gguf")
    with pytest.raises(MissingDependencyError, match=r"pip install 'lexkit\[gguf\]'"):
        read_gguf_embeddings(tmp_path / "model.gguf")


def test_every_optional_dependency_is_an_extra_and_not_required():
    # the installed package's metadata: "dask[distributed]>=2024.1; extra == \"dask\"" and so on
    by_extra: dict[str, list[str]] = {}
    for requirement in requires("lexkit") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r'extra == "([^"]+)"', marker)
        by_extra.setdefault(extra.group(1) if extra else "", []).append(spec.strip())
    for extra, distribution in OPTIONAL_DEPENDENCIES.values():
        assert any(spec.startswith(distribution) for spec in by_extra[extra]), (extra, distribution)
        assert any(re.fullmatch(rf"lexkit\[(\w+,)*{extra}(,\w+)*\]", spec) for spec in by_extra["all"]), extra
        assert not any(spec.startswith(distribution.split("[")[0]) for spec in by_extra[""]), distribution
