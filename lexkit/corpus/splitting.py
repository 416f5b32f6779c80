"""Raw pre-token counters of a pipeline: what one worker runs on a list of text items or a file block.

Counting speed: splitting is the cost (the ``regex`` module runs the GPT-2 pattern at about 7-10 MB/s). For the
byte-level presets trainers use (``byte_level_pre_tokenizer("gpt2" | "cl100k" | "o200k")`` without a
normalizer), the compiled kernel ``lexkit.corpus._split_kernel`` (``lexkit/corpus/_split_kernel.c``) splits
pure-ASCII items with a hand-written matcher of the pattern and counts them in a C hash table that lives across
file blocks (`block_counter`: lines are scanned in the block's bytes, no str per line); other items go to
``regex`` and are counted in the same table, so counts and key order never depend on the path. On the 100 MB
English fixture (98 % of its bytes on ASCII lines) ``count_pre_tokens(workers=1)`` takes 2.9 s (34 MB/s, measure
lock), the surface map and Python tables included (2.1-2.3 s in a later measure-lock session;
the surface dict is now built in C by ``Counts.take_surface``). Without the kernel (no C compiler at install time) ASCII items are split with
Python's ``re`` running the same pattern with every Unicode property replaced by its ASCII members (1.5x faster
than ``regex`` for GPT-2's pattern, 2.6x for cl100k/o200k). All are the same automaton on ASCII input (the
character classes are computed from ``regex`` itself); ``tests/lexkit/test_split_kernel.py`` (every string of up
to 4 characters over the classes the matchers tell apart, generated mixes, long runs, real text, HF's own
pre-tokenizer) and ``tests/vocab/test_train.py`` check equal counts. HF's own Rust pre-tokenizer was measured and
rejected: on 10 MB, ``encode_batch`` with a ``WordLevel`` model took 2.0 s to split plus 0.7 s to read the
offsets back, against 1.0 s to split and count with ``regex`` (one core).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache
from itertools import chain
from types import ModuleType
from typing import TYPE_CHECKING, Any

import regex

from lexkit.components import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    TextPipeline,
    build_pipeline,
    byte_level_pre_tokenizer,
)

_kernel: ModuleType | None
try:
    from lexkit.corpus import _split_kernel as _kernel
except ImportError:  # not built (no C compiler at install time): the ``re`` splitter below runs instead
    _kernel = None

if TYPE_CHECKING:
    from lexkit.corpus import _split_kernel

__all__ = ["RawCounter", "add_counts", "block_counter", "fast_counter", "raw_counter", "surface_counts",
           "take_block_surface"]

#: Counts the raw pre-tokens (before the pre-tokenizer's surface map) of a list of text items.
RawCounter = Callable[[list[str]], Counter[str]]


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


_PRESETS = (("gpt2", GPT2_PATTERN), ("cl100k", CL100K_PATTERN), ("o200k", O200K_PATTERN))

# The kernel's class flags (lexkit/corpus/_split_kernel.c): letter, digit, whitespace, o200k's two letter classes.
_CLASS_FLAGS = ((1, r"\p{L}"), (2, r"\p{N}"), (4, r"\s"), (8, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
                (16, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"))


@cache
def _ascii_classes() -> bytes | None:
    """The kernel's 128 class-flag bytes, computed with ``regex``; None when the kernel's assumptions fail.

    The matchers assume every ASCII character is in at most one of letter, digit and whitespace, and that
    o200k's two letter classes split the ASCII letters in two.
    """
    flags = [sum(flag for flag, prop in _CLASS_FLAGS if regex.fullmatch(prop, chr(code))) for code in range(128)]
    for value in flags:
        if bin(value & 7).count("1") > 1 or (value & 1) != bool(value & 24) or (value & 24) == 24:
            return None
    return bytes(flags)


@cache
def _ascii_splitters() -> dict[str, tuple[int, re.Pattern[str], regex.Pattern[str]]]:
    """Preset pre-tokenizer JSON (as text) -> (kernel pattern id, ``re`` pattern for ASCII items, ``regex``
    pattern)."""
    import json

    out = {}
    for number, (name, pattern) in enumerate(_PRESETS):
        key = json.dumps(byte_level_pre_tokenizer(name), sort_keys=True)  # type: ignore[arg-type]
        out[key] = (number, _ascii_pattern(pattern), regex.compile(pattern, regex.MULTILINE))
    return out


def fast_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter | None:
    """A faster raw counter (before the surface map) for the byte-level presets, or None for other pipelines.

    Applies only without a normalizer and for exactly the JSON of ``byte_level_pre_tokenizer("gpt2" |
    "cl100k" | "o200k")``: there each item's raw pre-tokens are the pattern's ``findall`` (the patterns
    tile every text), which the compiled kernel (or, without it, `_ascii_pattern` with ``re``) reproduces on
    ASCII items.
    """
    import json

    if normalizer is not None or pre_tokenizer is None:
        return None
    found = _ascii_splitters().get(json.dumps(pre_tokenizer, sort_keys=True))
    if found is None:
        return None
    number, ascii_pattern, unicode_pattern = found
    unicode_findall = unicode_pattern.findall
    classes = _ascii_classes()
    if _kernel is not None and classes is not None:
        kernel = _kernel

        def count_compiled(texts: list[str]) -> Counter[str]:
            table = kernel.Counts(number, classes, unicode_findall)
            table.count_texts(texts)
            return table.take()

        return count_compiled
    ascii_findall = ascii_pattern.findall

    def split(text: str) -> list[str]:
        return ascii_findall(text) if text.isascii() else unicode_findall(text)

    def count(texts: list[str]) -> Counter[str]:
        return Counter(chain.from_iterable(map(split, texts)))

    return count


def block_counter(
    normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None
) -> _split_kernel.Counts | None:
    """A new compiled table that counts whole file blocks for the byte-level presets (see `fast_counter`), or
    None (another pipeline, or no kernel). ``count_block(data)`` adds a block's lines without making a str per
    line and returns their number (invalid UTF-8 raises UnicodeDecodeError before anything is added: the caller
    then decodes the block under its policy); counts stay in C across blocks until ``take()``, so Python objects
    are made once per distinct pre-token rather than once per block."""
    import json

    classes = _ascii_classes()
    if _kernel is None or normalizer is not None or pre_tokenizer is None or classes is None:
        return None
    found = _ascii_splitters().get(json.dumps(pre_tokenizer, sort_keys=True))
    if found is None:
        return None
    return _kernel.Counts(found[0], classes, found[2].findall)


def raw_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter:
    """The raw counter of a pipeline: `fast_counter` where it applies, else `TextPipeline.count`."""
    fast = fast_counter(normalizer, pre_tokenizer)
    if fast is not None:
        return fast
    pipeline = build_pipeline(normalizer, pre_tokenizer)
    return lambda texts: pipeline.count(texts, surface=False)


def add_counts(counts: Counter[str], partial: Mapping[str, int]) -> None:
    """``counts.update(partial)``, in C when the kernel is built (the same sums and key order)."""
    if _kernel is not None and type(partial) in (dict, Counter):
        _kernel.add_counts(counts, partial)
    else:
        counts.update(partial)


def take_block_surface(blocks: _split_kernel.Counts) -> Counter[str]:
    """The counts of a `block_counter` table in the surface form of its pipeline, built in C from each key's
    bytes (the byte-level presets map every UTF-8 byte through GPT-2's one-to-one table, so keys stay distinct):
    what ``surface_counts(pipeline, blocks.take())`` gives, without a raw str and a Python call per key."""
    from lexkit.formats.surface import bytes_to_unicode

    table = bytes_to_unicode()
    return blocks.take_surface("".join(table[byte] for byte in range(256)))


def surface_counts(pipeline: TextPipeline, raw: Counter[str]) -> Counter[str]:
    """``pipeline.surface_counts(raw)``, one dict build when the surface map joins no two keys of ``raw``.

    (ByteLevel's map is one-to-one unless it adds a prefix space; the check is on the keys themselves.)
    """
    surface = pipeline.pre_tokenizer.surface
    if surface is None:
        return raw
    keys = list(map(surface, raw))
    if len(set(keys)) < len(keys):
        return pipeline.surface_counts(raw)
    return Counter(dict(zip(keys, raw.values())))


def ascii_split_pattern(pattern: str) -> re.Pattern[str]:
    """A published split pattern for Python's ``re``, equal to ``regex`` running ``pattern`` on ASCII-only text
    (`_ascii_pattern`); the byte-level WordPiece engine (`lexkit._wordpiece`) splits ASCII texts with it."""
    return _ascii_pattern(pattern)
