"""File formats: HF ``tokenizer.json``, sentencepiece ``.model``/``.model.vN`` (read), tiktoken ranks, native
``lexkit.json``."""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

from lexkit.errors import FormatError
from lexkit.vocabulary import Vocabulary

__all__ = ["load_vocabulary"]


def load_vocabulary(path: str | PathLike[str]) -> Vocabulary:
    """Read a vocabulary from any supported file, or a folder holding one (``lexkit.json`` preferred).

    Raises:
        FormatError: the path is missing or holds no supported file.
    """
    from lexkit.formats import hf, native

    path = Path(path)
    if path.is_dir():
        for name in (native.FILENAME, "tokenizer.json", "tokenizer.model"):
            if (path / name).exists():
                return load_vocabulary(path / name)
        raise FormatError(
            f"{path}: no lexkit.json, tokenizer.json or tokenizer.model in this folder; pass the file itself"
        )
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    if path.name == native.FILENAME or _sniff(path) == "lexkit":
        return native.load(path)
    if path.suffix == ".model" or _SENTENCEPIECE_VERSIONED.search(path.name):
        from lexkit.formats.sentencepiece import from_sentencepiece

        return from_sentencepiece(path)
    if path.suffix == ".tiktoken":
        from lexkit.formats.tiktoken import from_tiktoken

        return from_tiktoken(path)
    return hf.from_hf(path)


#: Versioned sentencepiece model names, as Mistral publishes them (``tokenizer.model.v1``, ``.v3``).
_SENTENCEPIECE_VERSIONED = re.compile(r"\.model\.v\d+$")


def _sniff(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(200)
    return "lexkit" if b'"lexkit.vocabulary"' in head else "other"
