"""lexkit: train, convert, analyse and transplant tokenizers on one shared vocabulary model.

The public API is re-exported here; heavy dependencies (torch, transformers, datasets, sentencepiece, tiktoken,
click) are imported only inside the functions that need them.

The folders ``vocab/``, ``transfer/``, ``analysis/`` and ``cli/`` install as ``lexkit.vocab`` and so on (setup.py).
When this package is imported straight from a source checkout (``python -c "import lexkit.vocab"`` in the
repository root, where the bare ``lexkit/`` folder wins over the installed package), `_SourceTreeFinder` finds
them beside it, so the whole package imports from the root too. An installed wheel never enables it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from lexkit._version import __version__
from lexkit.errors import (
    CorpusError,
    EncodingError,
    FormatError,
    LexkitError,
    LossyConversionError,
    MissingDependencyError,
    UnsupportedAlphabetError,
    UnsupportedComponentError,
    VocabularyError,
)
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import AddedTokenOptions, Alphabet, Token, TokenKind, Vocabulary

__all__ = [
    "AddedTokenOptions",
    "Alphabet",
    "CorpusError",
    "EncodingError",
    "FormatError",
    "LexkitError",
    "LossyConversionError",
    "MissingDependencyError",
    "Token",
    "TokenKind",
    "Tokenizer",
    "UnsupportedAlphabetError",
    "UnsupportedComponentError",
    "Vocabulary",
    "VocabularyError",
    "__version__",
]

#: The sibling folders that install as subpackages (the same mapping as setup.py's FOLDERS; a test keeps them equal).
_SOURCE_FOLDERS = {"lexkit.vocab": "vocab", "lexkit.transfer": "transfer", "lexkit.analysis": "analysis",
                  "lexkit.cli": "cli"}


class _SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``lexkit.vocab``, ``lexkit.transfer``, ``lexkit.analysis`` and ``lexkit.cli`` in a source checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        folder = _SOURCE_FOLDERS.get(fullname)
        if folder is None:
            return None
        init = self.root / folder / "__init__.py"
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(init.parent)])


def _source_root() -> Path | None:
    """The repository root when this package was imported from a lexkit source checkout, else None.

    subtle: an installed package has no ``pyproject.toml`` naming lexkit beside it, nor the four sibling folders,
    so a wheel never gets the finder; the subpackages then come from the wheel itself.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        project = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    if 'name = "lexkit"' not in project:
        return None
    if not all((root / folder / "__init__.py").is_file() for folder in _SOURCE_FOLDERS.values()):
        return None
    return root


_SOURCE_ROOT = _source_root()
if _SOURCE_ROOT is not None and not any(isinstance(f, _SourceTreeFinder) for f in sys.meta_path):
    # appended: a package installed under the same names (an editable install) is still found first.
    sys.meta_path.append(_SourceTreeFinder(_SOURCE_ROOT))
