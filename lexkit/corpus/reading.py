"""Reading a planned corpus: file blocks cut at line ends, UTF-8 decoding under a policy, dataset rows, text batches.

The unit of reading is one *text item*, exactly what HF's trainer feeds its pipeline (see `lexkit.corpus`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr

from lexkit.corpus.config import Binary, Errors, check_policies
from lexkit.corpus.sources import (
    DATA_FILE_BUILDERS,
    Corpus,
    DatasetSource,
    DatasetUnit,
    Plan,
    Source,
    TextFile,
    is_saved_dataset,
    plan_sources,
)
from lexkit.errors import CorpusError, require

__all__ = [
    "Block", "Skipped", "Tally", "Task", "count_non_empty", "dataset_batches", "decode_block", "iter_texts",
    "open_dataset", "plan_tasks", "read_blocks", "task_texts", "text_batches",
]

logger = logging.getLogger(__name__)

_READ_BYTES = 1 << 20  # block size of iter_texts (CountConfig.block_bytes for counting)
_OTHER_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")



@dataclass
class Block:
    """A run of whole lines of one file: the work unit for decoding and counting."""

    path: str
    offset: int
    data: bytes


def read_blocks(path: Path, size: int, start: int = 0, end: int | None = None) -> Iterator[Block]:
    """Read ``path`` in blocks of about ``size`` bytes that end at a line end (a line longer than that stays whole).

    ``start``/``end`` limit the reading to that byte range (a shard; both at line ends or the file's ends).
    """
    offset = start
    carry = b""
    with open(path, "rb") as handle:
        handle.seek(start)
        while True:
            chunk = handle.read(size if end is None else min(size, end - offset - len(carry)))
            if not chunk:
                break
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            yield Block(str(path), offset, data[:cut])
            offset += cut
            carry = data[cut:]
    if carry:
        yield Block(str(path), offset, carry)


@dataclass
class Skipped:
    """Lines dropped under ``errors="skip"`` in one block: how many and where the first bad byte was."""

    path: str
    lines: int
    first_offset: int


def decode_block(block: Block, errors: Errors) -> tuple[list[str], Skipped | None]:
    """The block's lines (newlines kept; only "\\n" ends a line) under the UTF-8 error policy."""
    try:
        text = block.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if errors == "error":
            bad = block.offset + exc.start
            raise CorpusError(
                f"{block.path}: invalid UTF-8 at byte {bad} (0x{block.data[exc.start]:02x}); the corpus must be "
                "UTF-8 text. Fix or re-encode the file, or pass errors='replace' or 'skip' "
                "(--utf8-errors replace)"
            ) from None
        if errors == "replace":
            text = block.data.decode("utf-8", "replace")
        else:
            return _decode_skipping(block)
    return _lines(text), None


def _decode_skipping(block: Block) -> tuple[list[str], Skipped]:
    lines: list[str] = []
    skipped = Skipped(block.path, 0, -1)
    position = block.offset
    for raw in _byte_lines(block.data):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if skipped.lines == 0:
                skipped.first_offset = position + exc.start
            skipped.lines += 1
        position += len(raw)
    return lines, skipped


def _byte_lines(data: bytes) -> list[bytes]:
    return _with_newlines(data.split(b"\n"), b"\n")


def _lines(text: str) -> list[str]:
    # subtle: str.splitlines() also breaks at "\r", "\x0b", "\x1c", U+0085, U+2028...; HF (Rust read_line) breaks
    # at "\n" only and keeps it. splitlines is used only when "\n" is the only line break in the text.
    if _OTHER_LINE_BREAKS.search(text) is None:
        return text.splitlines(keepends=True)
    return _with_newlines(text.split("\n"), "\n")


def _with_newlines(parts: list[AnyStr], newline: AnyStr) -> list[AnyStr]:
    """Lines from the parts of a split at ``newline``: the newline put back, an empty last part dropped."""
    lines = [part + newline for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _dataset_texts(unit: DatasetUnit, text_column: str) -> Iterator[list[str]]:
    """Batches of texts from a dataset source (loaded lazily through ``datasets``, streaming where possible)."""
    dataset, column = open_dataset(unit, text_column)
    yield from dataset_batches(dataset, column, unit.name)


def open_dataset(unit: DatasetUnit, text_column: str) -> tuple[Any, str]:
    """The unit's dataset (its split chosen, only the text column kept) and the text column's name."""
    source = unit.source
    if isinstance(source, DatasetSource):
        column = source.text_column or text_column
        dataset = _load_dataset(source)
    else:
        column = text_column
        dataset = source
    datasets: Any = require("datasets")
    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        split = source.split if isinstance(source, DatasetSource) else "train"
        if split not in dataset:
            fix = (f"DatasetSource({source.path!r}, split={sorted(dataset)[0]!r})" if isinstance(source, DatasetSource)
                   else f"the split itself, e.g. dataset[{sorted(dataset)[0]!r}]")
            raise CorpusError(f"{unit.name}: has no split {split!r} (it has {sorted(dataset)}); pass {fix}")
        dataset = dataset[split]
    columns = dataset.column_names
    if columns is not None and column not in columns:
        raise CorpusError(
            f"{unit.name}: has no column {column!r} (its columns: {columns}); pass text_column=<one of them> "
            "(--text-column)"
        )
    if columns is not None and len(columns) > 1 and hasattr(dataset, "select_columns"):
        dataset = dataset.select_columns([column])
    return dataset, column


def dataset_batches(dataset: Any, column: str, name: str) -> Iterator[list[str]]:
    """Batches of the ``column`` values of a single dataset (nulls left out), checked to be text."""
    try:
        for batch in dataset.iter(batch_size=1000):
            if column not in batch:
                raise CorpusError(
                    f"{name}: has no column {column!r} (its columns: {sorted(batch)}); pass "
                    "text_column=<one of them> (--text-column)"
                )
            values = batch[column]
            bad = next((value for value in values if value is not None and not isinstance(value, str)), None)
            if bad is not None:
                raise CorpusError(
                    f"{name}: column {column!r} holds {type(bad).__name__} values, not text; pass the name "
                    "of a string column as text_column (--text-column)"
                )
            yield [value for value in values if value is not None] if None in values else values
    except CorpusError:
        raise
    except Exception as exc:  # datasets raises many types (pyarrow, json, fsspec) for one cause: unreadable input
        raise CorpusError(
            f"{name}: datasets could not read it ({type(exc).__name__}: {exc}); check that the file is valid "
            f"{Path(name).suffix or 'dataset'} data in UTF-8"
        ) from exc


def _load_dataset(source: DatasetSource) -> Any:
    datasets: Any = require("datasets")
    path = Path(source.path)
    try:
        if path.is_dir() and is_saved_dataset(path):
            return datasets.load_from_disk(str(path))
        if path.is_file():
            builder = DATA_FILE_BUILDERS.get(path.suffix.lower(), "text")
            return datasets.load_dataset(builder, data_files=str(path), split=source.split,
                                         streaming=source.streaming)
        return datasets.load_dataset(source.path, source.config, split=source.split, streaming=source.streaming)
    except Exception as exc:  # network, missing dataset, bad config: datasets raises many types
        raise CorpusError(
            f"dataset {source.path!r} (split {source.split!r}) could not be loaded: {type(exc).__name__}: {exc}. "
            "Check the name, split and config (DatasetSource(path, split=..., config=...)), or your network"
        ) from exc


def text_batches(texts: Iterable[str], name: str, size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    chars = 0
    for text in texts:
        if not isinstance(text, str):
            raise CorpusError(
                f"{name}: an item is a {type(text).__name__}, not a str; an iterable source must yield texts "
                "(pass paths as a str/Path source or Corpus(path1, path2), not inside a list)"
            )
        batch.append(text)
        chars += len(text)
        if chars >= size:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


@dataclass
class Task:
    """One work unit: a file block or a batch of texts, tagged with the index of its source."""

    source: int
    block: Block | None = None
    texts: list[str] | None = None


def plan_tasks(plan: Plan, text_column: str, block_bytes: int) -> Iterator[Task]:
    for index, unit in plan.units:
        if isinstance(unit, TextFile):
            for block in read_blocks(unit.path, block_bytes):
                yield Task(index, block=block)
        elif isinstance(unit, DatasetUnit):
            for batch in _dataset_texts(unit, text_column):
                yield Task(index, texts=batch)
        else:
            for batch in text_batches(unit.texts, unit.name, block_bytes):
                yield Task(index, texts=batch)


def task_texts(task: Task, errors: Errors) -> tuple[list[str], Skipped | None]:
    if task.block is not None:
        return decode_block(task.block, errors)
    return task.texts or [], None


class Tally:
    """What the reading saw: non-empty items per source and lines skipped per file, reported at the end."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.items = [0] * len(plan.names)
        self.skipped: dict[str, list[int]] = {}

    def add(self, source: int, items: int, skipped: Skipped | None) -> None:
        self.items[source] += items
        if skipped is not None and skipped.lines:
            seen = self.skipped.setdefault(skipped.path, [0, skipped.first_offset])
            seen[0] += skipped.lines

    def finish(self) -> None:
        """Log skipped lines and empty sources; raise when the whole corpus had no text."""
        for path, (lines, first) in self.skipped.items():
            logger.warning("%s: skipped %d line(s) with invalid UTF-8 (the first at byte %d)", path, lines, first)
        empty = [name for name, items in zip(self.plan.names, self.items) if items == 0]
        if not self.plan.names:
            raise CorpusError("the corpus has no sources; pass files, folders, datasets or texts, e.g. Corpus(path)")
        if len(empty) == len(self.plan.names):
            raise CorpusError(
                f"the corpus has no text: {', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty; pass "
                "files, folders, datasets or texts with content"
            )
        for name in empty:
            logger.warning("corpus source %s has no text", name)


def iter_texts(
    sources: Corpus | Source,
    *,
    text_column: str = "text",
    errors: Errors = "error",
    binary: Binary = "error",
) -> Iterator[str]:
    """Yield the corpus's text items in order: file lines (newline kept), dataset rows, iterable elements.

    Args:
        sources: a `Corpus` or one source (see `Source`: a path, folder, glob, ``"hf:owner/name"``, a
            `DatasetSource`, a ``datasets`` object, or an iterable of texts).
        text_column: the dataset column holding the text.
        errors: invalid UTF-8 in a file: ``"error"`` raises naming the file and byte offset, ``"replace"`` puts
            U+FFFD in its place, ``"skip"`` drops the line (one warning per file is logged).
        binary: a file with a NUL byte in its first 8 KiB: ``"error"`` raises, ``"skip"`` leaves it out with
            a warning.

    Yields:
        The text items, exactly what HF's trainer would feed its pipeline.

    Raises:
        CorpusError: a path is missing, a glob matches nothing, a file is binary or has invalid UTF-8 (under
            the policies above), a dataset cannot be read or lacks ``text_column``, or the corpus has no text.
        ValueError: ``errors`` or ``binary`` is not one of its values.
    """
    check_policies(errors, binary)
    plan = plan_sources(sources, binary)
    tally = Tally(plan)
    for task in plan_tasks(plan, text_column, _READ_BYTES):
        texts, skipped = task_texts(task, errors)
        tally.add(task.source, count_non_empty(texts), skipped)
        yield from texts
    tally.finish()


def count_non_empty(texts: list[str]) -> int:
    return len(texts) - texts.count("")
