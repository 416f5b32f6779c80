"""Corpus input (files, folders, globs, HF datasets, Python iterables) and parallel pre-token counting.

The counting unit is one *text item*, the sequence HF's trainer feeds to its normalizer and pre-tokenizer:
- a text file contributes one item per line, **with its line ending**: ``Tokenizer.train(files=...)`` in
  ``tokenizers`` 0.23 reads files with Rust's ``read_line``, which keeps the ``"\\n"`` (and a ``"\\r"`` before it),
  so a ByteLevel trainer counts ``"Ċ"`` and ``"čĊ"`` pre-tokens, and a blank line is an item ``"\\n"``. Only
  ``"\\n"`` ends a line (not ``"\\r"``, U+0085 or U+2028, unlike Python's ``str.splitlines``). The last line may
  lack a newline. Checked by experiment and held by ``tests/lexkit/test_corpus.py``;
- a dataset contributes one item per row (the ``text_column`` value; rows where it is null are left out),
  like ``train_from_iterator``;
- a Python iterable contributes one item per element.

Counting runs in a local process pool, or on a Dask cluster with ``engine="dask"`` (`lexkit.dask_counting`; same
counts, same order; ``docs/scaling.md``).

HF aborts a file with invalid UTF-8 without saying where; lexkit reports the file and byte offset, or replaces or
skips per the ``errors`` policy. Files are read in blocks cut at line ends, never whole.

Counting speed: splitting is the cost (the ``regex`` module runs the GPT-2 pattern at about 7-10 MB/s). For the
byte-level presets trainers use (``byte_level_pre_tokenizer("gpt2" | "cl100k" | "o200k")`` without a
normalizer), items that are pure ASCII (``str.isascii`` is O(1)) are split with Python's ``re`` running the same
pattern with every Unicode property replaced by its ASCII members (counting 1.5x faster for GPT-2's pattern,
2.6x for cl100k/o200k on the English fixture); other items go through `lexkit.components`. The two are the same
automaton on ASCII input (the member sets are computed from ``regex`` itself; ``tests/vocab/test_train.py``
checks equality on real and adversarial text). HF's own Rust pre-tokenizer was measured and rejected: on 10 MB,
``encode_batch`` with a ``WordLevel`` model took 2.0 s to split plus 0.7 s to read the offsets back, against
1.0 s to split and count with ``regex`` (one core; this machine's two vCPUs do not run two processes in parallel).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, AnyStr, Literal

import regex

from lexkit.components import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    build_pipeline,
    byte_level_pre_tokenizer,
)
from lexkit.errors import CorpusError, require

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

    from distributed import Client

__all__ = ["Corpus", "DatasetSource", "Source", "count_pre_tokens", "iter_texts"]

logger = logging.getLogger(__name__)

Errors = Literal["error", "replace", "skip"]
Binary = Literal["error", "skip"]

#: Data-file suffixes read through ``datasets`` (one item per row); every other file is text, one item per line.
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
_SNIFF_BYTES = 8192
_READ_BYTES = 1 << 20  # block size of iter_texts (count_pre_tokens takes block_bytes)
_GLOB_CHARS = frozenset("*?[")
_OTHER_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


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
        return f"Corpus({', '.join(_describe(source) for source in self.sources)})"


# ---------------------------------------------------------------------------------------------------------------
# Resolving sources into readable units


@dataclass
class _TextFile:
    path: Path


@dataclass
class _Dataset:
    source: DatasetSource | Any  # a DatasetSource or an already-loaded datasets object
    name: str


@dataclass
class _Texts:
    texts: Iterable[str]
    name: str


_Unit = _TextFile | _Dataset | _Texts


@dataclass
class _Plan:
    """The units of every source, and which source each unit belongs to (for empty-source reports)."""

    units: list[tuple[int, _Unit]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _plan(sources: Corpus | Source, binary: Binary) -> _Plan:
    """Expand sources into files, datasets and text iterables; missing paths raise here, before any reading."""
    plan = _Plan()
    for index, source in enumerate(sources.sources if isinstance(sources, Corpus) else (sources,)):
        plan.names.append(_describe(source))
        for unit in _expand(source, binary):
            plan.units.append((index, unit))
    return plan


def _expand(source: Source, binary: Binary) -> Iterator[_Unit]:
    if isinstance(source, DatasetSource):
        yield _Dataset(source, source.path)
    elif isinstance(source, (str, os.PathLike)):
        yield from _expand_path(os.fspath(source), binary)
    elif _is_dataset_object(source):
        yield _Dataset(source, _describe(source))
    elif isinstance(source, (bytes, bytearray)):
        raise CorpusError(
            f"a corpus source is {type(source).__name__}, which lexkit does not guess an encoding for; decode it "
            "first (pass [data.decode('utf-8')]) or write it to a file and pass the path"
        )
    elif isinstance(source, Iterable):
        yield _Texts(source, _describe(source))
    else:
        raise CorpusError(
            f"a corpus source is a {type(source).__name__}, which is neither a path, a dataset nor an iterable of "
            "texts; pass a file/folder path, 'hf:owner/name', a DatasetSource or a list of strings"
        )


def _expand_path(spec: str, binary: Binary) -> Iterator[_Unit]:
    if spec.startswith("hf:"):
        yield _Dataset(DatasetSource(spec[3:]), spec)
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
        if _is_saved_dataset(path):
            yield _Dataset(DatasetSource(str(path)), str(path))
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


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def _file_unit(path: Path, binary: Binary) -> Iterator[_Unit]:
    if path.suffix.lower() in DATA_FILE_BUILDERS:
        yield _Dataset(DatasetSource(str(path)), str(path))
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
    yield _TextFile(path)


def _is_dataset_object(source: object) -> bool:
    datasets = sys.modules.get("datasets")  # a datasets object implies the module is already imported
    return datasets is not None and isinstance(
        source, (datasets.Dataset, datasets.IterableDataset, datasets.DatasetDict, datasets.IterableDatasetDict)
    )


def _describe(source: object) -> str:
    if isinstance(source, DatasetSource):
        return f"dataset {source.path}"
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if _is_dataset_object(source):
        return f"{type(source).__name__} object"
    return f"{type(source).__name__} of texts"


# ---------------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Block:
    """A run of whole lines of one file: the work unit for decoding and counting."""

    path: str
    offset: int
    data: bytes


def _blocks(path: Path, size: int, start: int = 0, end: int | None = None) -> Iterator[_Block]:
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
            yield _Block(str(path), offset, data[:cut])
            offset += cut
            carry = data[cut:]
    if carry:
        yield _Block(str(path), offset, carry)


@dataclass
class _Skipped:
    """Lines dropped under ``errors="skip"`` in one block: how many and where the first bad byte was."""

    path: str
    lines: int
    first_offset: int


def _decode(block: _Block, errors: Errors) -> tuple[list[str], _Skipped | None]:
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


def _decode_skipping(block: _Block) -> tuple[list[str], _Skipped]:
    lines: list[str] = []
    skipped = _Skipped(block.path, 0, -1)
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


def _dataset_texts(unit: _Dataset, text_column: str) -> Iterator[list[str]]:
    """Batches of texts from a dataset source (loaded lazily through ``datasets``, streaming where possible)."""
    dataset, column = _open_dataset(unit, text_column)
    yield from _dataset_batches(dataset, column, unit.name)


def _open_dataset(unit: _Dataset, text_column: str) -> tuple[Any, str]:
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


def _dataset_batches(dataset: Any, column: str, name: str) -> Iterator[list[str]]:
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
        if path.is_dir() and _is_saved_dataset(path):
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


def _text_batches(texts: Iterable[str], name: str, size: int) -> Iterator[list[str]]:
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
class _Task:
    """One work unit: a file block or a batch of texts, tagged with the index of its source."""

    source: int
    block: _Block | None = None
    texts: list[str] | None = None


def _tasks(plan: _Plan, text_column: str, block_bytes: int) -> Iterator[_Task]:
    for index, unit in plan.units:
        if isinstance(unit, _TextFile):
            for block in _blocks(unit.path, block_bytes):
                yield _Task(index, block=block)
        elif isinstance(unit, _Dataset):
            for batch in _dataset_texts(unit, text_column):
                yield _Task(index, texts=batch)
        else:
            for batch in _text_batches(unit.texts, unit.name, block_bytes):
                yield _Task(index, texts=batch)


def _task_texts(task: _Task, errors: Errors) -> tuple[list[str], _Skipped | None]:
    if task.block is not None:
        return _decode(task.block, errors)
    return task.texts or [], None


class _Tally:
    """What the reading saw: non-empty items per source and lines skipped per file, reported at the end."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.items = [0] * len(plan.names)
        self.skipped: dict[str, list[int]] = {}

    def add(self, source: int, items: int, skipped: _Skipped | None) -> None:
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


def _check_options(errors: str, binary: str) -> None:
    if errors not in ("error", "replace", "skip"):
        raise ValueError(f"errors={errors!r} is not one of 'error', 'replace', 'skip'; pass one of those")
    if binary not in ("error", "skip"):
        raise ValueError(f"binary={binary!r} is not one of 'error', 'skip'; pass one of those")


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
    _check_options(errors, binary)
    plan = _plan(sources, binary)
    tally = _Tally(plan)
    for task in _tasks(plan, text_column, _READ_BYTES):
        texts, skipped = _task_texts(task, errors)
        tally.add(task.source, _non_empty(texts), skipped)
        yield from texts
    tally.finish()


# ---------------------------------------------------------------------------------------------------------------
# Parallel counting

#: What counting one work unit gives: source index, raw counts (before the pre-tokenizer's surface map), bytes
#: read, non-empty items, skipped lines.
_Result = tuple[int, Counter[str], int, int, _Skipped | None]

#: Counts the raw pre-tokens (before the pre-tokenizer's surface map) of a list of text items.
RawCounter = Callable[[list[str]], Counter[str]]

# The raw counter and UTF-8 policy of a pool worker process, set once by `_init_worker`.
_WORKER: tuple[RawCounter, Errors] | None = None


def _non_empty(texts: list[str]) -> int:
    return len(texts) - texts.count("")


# Unicode properties of the published patterns -> the pattern text standing for their ASCII members.
_PROPERTY = regex.compile(r"\\p\{\w+\}|\\[sS]")


def _ascii_members(prop: str) -> str:
    """The ASCII characters a ``regex`` class escape matches, escaped for a ``re`` character class."""
    probe = regex.compile(prop)
    return "".join(re.escape(chr(code)) for code in range(128) if probe.fullmatch(chr(code)))


def _ascii_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` for Python's ``re`` on ASCII-only text: each ``\\p{..}``/``\\s``/``\\S`` becomes its ASCII
    members (inside a character class) or a class of them (outside one).

    Only for the published split patterns, which have no nested classes, ``\\P{..}`` or POSIX classes.
    """
    out: list[str] = []
    inside = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        match = _PROPERTY.match(pattern, position) if char == "\\" else None
        if match is not None:
            members = _ascii_members(match.group())
            out.append(members if inside else f"[{members}]" if members else "(?!)")
            position = match.end()
            continue
        if char == "\\":
            out.append(pattern[position:position + 2])
            position += 2
            continue
        if char == "[" and not inside:
            inside = True
        elif char == "]" and inside:
            inside = False
        out.append(char)
        position += 1
    return re.compile("".join(out))


@cache
def _ascii_splitters() -> dict[str, tuple[re.Pattern[str], regex.Pattern[str]]]:
    """Preset pre-tokenizer JSON (as text) -> (``re`` pattern for ASCII items, ``regex`` pattern for the rest)."""
    import json

    out = {}
    for name, pattern in (("gpt2", GPT2_PATTERN), ("cl100k", CL100K_PATTERN), ("o200k", O200K_PATTERN)):
        key = json.dumps(byte_level_pre_tokenizer(name), sort_keys=True)  # type: ignore[arg-type]
        out[key] = (_ascii_pattern(pattern), regex.compile(pattern, regex.MULTILINE))
    return out


def _fast_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter | None:
    """A faster raw counter (before the surface map) for the byte-level presets, or None for other pipelines.

    Applies only without a normalizer and for exactly the JSON of ``byte_level_pre_tokenizer("gpt2" |
    "cl100k" | "o200k")``: there each item's raw pre-tokens are the pattern's ``findall`` (the patterns
    tile every text), which `_ascii_pattern` reproduces with ``re`` on ASCII items.
    """
    import json

    if normalizer is not None or pre_tokenizer is None:
        return None
    found = _ascii_splitters().get(json.dumps(pre_tokenizer, sort_keys=True))
    if found is None:
        return None
    ascii_findall, unicode_findall = found[0].findall, found[1].findall

    def split(text: str) -> list[str]:
        return ascii_findall(text) if text.isascii() else unicode_findall(text)

    def count(texts: list[str]) -> Counter[str]:
        return Counter(chain.from_iterable(map(split, texts)))

    return count


def _raw_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter:
    """The raw counter of a pipeline: `_fast_counter` where it applies, else `TextPipeline.count`."""
    fast = _fast_counter(normalizer, pre_tokenizer)
    if fast is not None:
        return fast
    pipeline = build_pipeline(normalizer, pre_tokenizer)
    return lambda texts: pipeline.count(texts, surface=False)


def _count(counter: RawCounter, errors: Errors, task: _Task) -> _Result:
    """Decode and count one work unit."""
    texts, skipped = _task_texts(task, errors)
    nbytes = len(task.block.data) if task.block is not None else sum(len(text.encode("utf-8")) for text in texts)
    return task.source, counter(texts), nbytes, _non_empty(texts), skipped


def _init_worker(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None, errors: Errors) -> None:
    global _WORKER
    _WORKER = (_raw_counter(normalizer, pre_tokenizer), errors)


def _count_in_worker(task: _Task) -> _Result:
    assert _WORKER is not None, "the pool initializer sets up the worker"
    return _count(*_WORKER, task)


def count_pre_tokens(
    sources: Corpus | Source,
    *,
    normalizer: Mapping[str, Any] | None,
    pre_tokenizer: Mapping[str, Any] | None,
    workers: int | None = None,
    progress: bool = True,
    errors: Errors = "error",
    binary: Binary = "error",
    text_column: str = "text",
    min_count: int = 1,
    block_bytes: int = 4 << 20,
    engine: Literal["local", "dask"] = "local",
    scheduler: str | Client | None = None,
    reduce_min_count: int = 1,
) -> dict[str, int]:
    """Count the pre-tokens of a corpus in parallel: the word counts a BPE-style trainer starts from.

    Every text item is normalized and pre-tokenized as HF's trainer does (see `lexkit.components`), and the
    pre-token strings counted. Work units (file blocks of whole lines, batches of texts) go to a process pool,
    at most two per worker in flight so reading never runs far ahead; results are merged in corpus order, so the
    counts (and the dict's order) do not depend on ``workers``.

    Args:
        sources: a `Corpus` or one source (see `iter_texts`).
        normalizer: the HF normalizer JSON, or None.
        pre_tokenizer: the HF pre-tokenizer JSON, or None (each item is then one pre-token).
        workers: processes to use; None means ``os.cpu_count()``, 1 counts in this process.
        progress: show a progress bar of bytes processed on stderr.
        errors: invalid UTF-8 policy (see `iter_texts`).
        binary: binary file policy (see `iter_texts`).
        text_column: the dataset column holding the text.
        min_count: drop pre-tokens seen fewer times.
        block_bytes: size of the file blocks sent to workers (``engine="local"``).
        engine: ``"local"`` counts in a process pool on this machine; ``"dask"`` counts on a Dask cluster
            (`lexkit.dask_counting.count_pre_tokens_dask`: a `LocalCluster` of ``workers`` processes, or the
            ``scheduler``'s workers), with identical results.
        scheduler: with ``engine="dask"``, a ``"tcp://HOST:PORT"`` scheduler address or a
            ``distributed.Client``; None starts a local cluster.
        reduce_min_count: with ``engine="dask"``, prune pre-tokens below this count from partial tables while
            reducing (approximate, saves memory; 1 keeps counts exact).

    Returns:
        Pre-token string (HF's surface form, e.g. ``"Ġthe"`` for ByteLevel) -> count, for counts >= ``min_count``.

    Raises:
        CorpusError: see `iter_texts`.
        UnsupportedComponentError: a component is not one lexkit can run.
        FormatError: a component object is malformed.
        ValueError: an option is out of range, or a Dask option is given with ``engine="local"``.
        ClusterError: the Dask scheduler cannot be reached or has no workers.

    >>> count_pre_tokens(["a b", "a"], normalizer=None, pre_tokenizer={"type": "Whitespace"}, workers=1,
    ...                  progress=False)
    {'a': 2, 'b': 1}
    """
    if engine == "dask":
        from lexkit.corpus.dask import count_pre_tokens_dask

        return count_pre_tokens_dask(
            sources, normalizer=normalizer, pre_tokenizer=pre_tokenizer, scheduler=scheduler, workers=workers,
            progress=progress, errors=errors, binary=binary, text_column=text_column, min_count=min_count,
            reduce_min_count=reduce_min_count,
        )
    if engine != "local":
        raise ValueError(f"engine={engine!r} is not one of 'local', 'dask'; pass one of those")
    if scheduler is not None or reduce_min_count != 1:
        raise ValueError(
            "scheduler= and reduce_min_count= apply to the Dask engine only; pass engine='dask' (--engine dask)"
        )
    _check_options(errors, binary)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1 or min_count < 1 or block_bytes < 1:
        raise ValueError(
            f"workers={workers}, min_count={min_count} and block_bytes={block_bytes} must all be at least 1"
        )
    pipeline = build_pipeline(normalizer, pre_tokenizer)  # malformed components fail here, before any reading
    counter = _raw_counter(normalizer, pre_tokenizer)
    plan = _plan(sources, binary)
    known_size = all(isinstance(unit, _TextFile) for _, unit in plan.units)
    total = sum(unit.path.stat().st_size for _, unit in plan.units if isinstance(unit, _TextFile))
    counts: Counter[str] = Counter()
    tally = _Tally(plan)
    tasks = _tasks(plan, text_column, block_bytes)

    from tqdm import tqdm

    # subtle: the pool forks before tqdm starts its monitor thread (forking a threaded process can deadlock).
    pool = _start_pool(workers, (normalizer, pre_tokenizer, errors)) if workers > 1 else None
    try:
        with tqdm(total=total if known_size else None, unit="B", unit_scale=True, unit_divisor=1024,
                  desc="counting pre-tokens", disable=not progress, file=sys.stderr) as bar:
            for source, partial, nbytes, items, skipped in (
                _pooled(pool, tasks, workers) if pool is not None else (_count(counter, errors, t) for t in tasks)
            ):
                counts.update(partial)
                tally.add(source, items, skipped)
                bar.update(nbytes)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    tally.finish()
    counts = pipeline.surface_counts(counts)  # once per distinct pre-token, after merging
    if min_count > 1:
        return {piece: count for piece, count in counts.items() if count >= min_count}
    return dict(counts)


def _start_pool(
    workers: int, init_args: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None, Errors]
) -> Pool:
    import multiprocessing

    return multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=init_args)


def _pooled(pool: Pool, tasks: Iterator[_Task], workers: int) -> Iterator[_Result]:
    """Results of ``tasks`` run on ``pool``, in order, with at most two tasks per worker in flight."""
    pending: deque[AsyncResult[_Result]] = deque()
    for task in tasks:
        pending.append(pool.apply_async(_count_in_worker, (task,)))
        if len(pending) >= 2 * workers:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
