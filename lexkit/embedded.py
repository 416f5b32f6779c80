"""The embedded default corpus: real text that exists on every CPython install.

Provenance: the running interpreter's own standard library, under the PSF License 2.0.
- ``prose``: the Python Language Reference and library topics shipped for ``help()`` in ``pydoc_data.topics``
  (about 0.75 MB of English technical prose).
- ``code``: the standard library's top-level ``.py`` modules, sorted by name, up to about 1.5 MB.
``make demo`` and the examples use it so they run with no download.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from lexkit.errors import CorpusError

__all__ = [
    "Part", "CODE_BYTES", "PROVENANCE", "prose_documents", "code_documents", "default_corpus", "iter_lines",
]

Part = Literal["prose", "code", "mixed"]
CODE_BYTES = 1_500_000
PROVENANCE = "CPython standard library of the running interpreter (pydoc_data.topics + top-level modules), PSF-2.0"


def prose_documents() -> list[str]:
    """The reference-manual topics, one document each, in a fixed (sorted) order."""
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def code_documents(limit_bytes: int = CODE_BYTES) -> list[str]:
    """Standard-library module sources, sorted by file name, until ``limit_bytes`` is reached.

    Raises:
        CorpusError: this Python install ships no ``.py`` sources.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    documents: list[str] = []
    total = 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        documents.append(text)
        total += len(text.encode("utf-8"))
        if total >= limit_bytes:
            break
    if not documents:
        raise CorpusError(
            f"no standard-library sources under {stdlib}; this Python install strips .py files — pass your own "
            "corpus (files, folders or a dataset) instead of the embedded default"
        )
    return documents


def default_corpus(part: Part = "mixed") -> list[str]:
    """The embedded corpus as a list of documents (``prose``, ``code`` or both)."""
    if part == "prose":
        return prose_documents()
    if part == "code":
        return code_documents()
    return prose_documents() + code_documents()


def iter_lines(part: Part = "mixed") -> Iterator[str]:
    """The embedded corpus line by line (newlines kept), the unit trainers count."""
    for document in default_corpus(part):
        yield from document.splitlines(keepends=True)
