"""Corpus sources (files, folders, globs, HF datasets, Python iterables) and their expansion into readable units.

`plan_sources` resolves every source before any reading, so a missing path or an empty glob fails first.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexkit.corpus.config import Binary
from lexkit.errors import CorpusError

__all__ = [
    "DATA_FILE_BUILDERS", "Corpus", "DatasetSource", "DatasetUnit", "Plan", "Source", "TextFile", "Texts", "Unit",
    "describe", "is_saved_dataset", "plan_sources",
]

logger = logging.getLogger(__name__)

#: Data-file suffixes read through ``datasets`` (one item per row); every other file is text, one item per line.
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
_SNIFF_BYTES = 8192
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class DatasetSource:
    """An HF ``datasets`` source: a hub dataset, a ``save_to_disk`` folder, or a local data file.

    Attributes:
        path: a hub name (``"owner/name"``), a folder written by ``Dataset.save_to_disk``, or a ``.json``/
            ``.jsonl``/``.parquet``/``.csv`` file.
        split: the split to read.
        config: the hub configuration name, if the dataset has several.
        text_column: the column holding the text; None means the ``text_column`` given to the reading function.
        streaming: stream hub datasets and data files instead of downloading/converting them first.
    """

    path: str
    split: str = "train"
    config: str | None = None
    text_column: str | None = None
    streaming: bool = True


#: One corpus source. A ``str`` or path is a file, folder, glob or saved dataset (``"hf:owner/name"`` for the
#: hub); any other iterable is the texts themselves, so ``["one text", "another"]`` is a corpus of two items.
Source = str | os.PathLike[str] | DatasetSource | Iterable[str]


class Corpus:
    """An ordered list of sources read as one corpus.

    >>> from lexkit.corpus import iter_texts
    >>> corpus = Corpus(["first text", "second text"], ["third"])
    >>> list(iter_texts(corpus))
    ['first text', 'second text', 'third']
    """

    def __init__(self, *sources: Source) -> None:
        """Collect sources.

        Args:
            *sources: files, folders, globs, ``"hf:owner/name"``, `DatasetSource` objects, ``datasets`` objects
                or iterables of texts, read in this order.
        """
        self.sources: tuple[Source, ...] = sources

    def __repr__(self) -> str:
        return f"Corpus({', '.join(describe(source) for source in self.sources)})"


# ---------------------------------------------------------------------------------------------------------------
# Resolving sources into readable units


@dataclass
class TextFile:
    path: Path


@dataclass
class DatasetUnit:
    source: DatasetSource | Any  # a DatasetSource or an already-loaded datasets object
    name: str


@dataclass
class Texts:
    texts: Iterable[str]
    name: str


Unit = TextFile | DatasetUnit | Texts


@dataclass
class Plan:
    """The units of every source, and which source each unit belongs to (for empty-source reports)."""

    units: list[tuple[int, Unit]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def plan_sources(sources: Corpus | Source, binary: Binary) -> Plan:
    """Expand sources into files, datasets and text iterables; missing paths raise here, before any reading."""
    plan = Plan()
    for index, source in enumerate(sources.sources if isinstance(sources, Corpus) else (sources,)):
        plan.names.append(describe(source))
        for unit in _expand(source, binary):
            plan.units.append((index, unit))
    return plan


def _expand(source: Source, binary: Binary) -> Iterator[Unit]:
    if isinstance(source, DatasetSource):
        yield DatasetUnit(source, source.path)
    elif isinstance(source, (str, os.PathLike)):
        yield from _expand_path(os.fspath(source), binary)
    elif _is_dataset_object(source):
        yield DatasetUnit(source, describe(source))
    elif isinstance(source, (bytes, bytearray)):
        raise CorpusError(
            f"a corpus source is {type(source).__name__}, which lexkit does not guess an encoding for; decode it "
            "first (pass [data.decode('utf-8')]) or write it to a file and pass the path"
        )
    elif isinstance(source, Iterable):
        yield Texts(source, describe(source))
    else:
        raise CorpusError(
            f"a corpus source is a {type(source).__name__}, which is neither a path, a dataset nor an iterable of "
            "texts; pass a file/folder path, 'hf:owner/name', a DatasetSource or a list of strings"
        )


def _expand_path(spec: str, binary: Binary) -> Iterator[Unit]:
    if spec.startswith("hf:"):
        yield DatasetUnit(DatasetSource(spec[3:]), spec)
        return
    path = Path(spec).expanduser()
    if _GLOB_CHARS & set(spec) and not path.exists():
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if os.path.isfile(p))
        if not matches:
            raise CorpusError(
                f"the glob {spec!r} matches no files (relative to {Path.cwd()}); check the pattern, or quote it so "
                "the shell does not expand it first"
            )
        for match in matches:
            yield from _file_unit(match, binary)
    elif path.is_dir():
        if is_saved_dataset(path):
            yield DatasetUnit(DatasetSource(str(path)), str(path))
        else:
            for file in _walk(path):
                yield from _file_unit(file, binary)
    elif path.is_file():
        yield from _file_unit(path, binary)
    else:
        raise CorpusError(
            f"corpus path {spec!r} does not exist (relative to {Path.cwd()}); fix the path, or write "
            f"'hf:{spec}' if you meant a dataset on the Hugging Face Hub"
        )


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, recursively, sorted, skipping hidden files and folders (names starting with ".")."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def _file_unit(path: Path, binary: Binary) -> Iterator[Unit]:
    if path.suffix.lower() in DATA_FILE_BUILDERS:
        yield DatasetUnit(DatasetSource(str(path)), str(path))
        return
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head:
        if binary == "skip":
            logger.warning("%s: skipped, it looks binary (a NUL byte in its first %d bytes)", path, _SNIFF_BYTES)
            return
        raise CorpusError(
            f"{path}: looks binary (a NUL byte at byte {head.index(0)}), not UTF-8 text; remove it from the corpus, "
            "or pass binary='skip' (--skip-binary) to leave such files out"
        )
    yield TextFile(path)


def _is_dataset_object(source: object) -> bool:
    datasets = sys.modules.get("datasets")  # a datasets object implies the module is already imported
    return datasets is not None and isinstance(
        source, (datasets.Dataset, datasets.IterableDataset, datasets.DatasetDict, datasets.IterableDatasetDict)
    )


def describe(source: object) -> str:
    if isinstance(source, DatasetSource):
        return f"dataset {source.path}"
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if _is_dataset_object(source):
        return f"{type(source).__name__} object"
    return f"{type(source).__name__} of texts"


