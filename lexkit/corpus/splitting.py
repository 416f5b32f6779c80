"""Raw pre-token counters of a pipeline: what one worker runs on a list of text items.

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

import re
from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache
from itertools import chain
from typing import Any

import regex

from lexkit.components import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    build_pipeline,
    byte_level_pre_tokenizer,
)

__all__ = ["RawCounter", "fast_counter", "raw_counter"]

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


@cache
def _ascii_splitters() -> dict[str, tuple[re.Pattern[str], regex.Pattern[str]]]:
    """Preset pre-tokenizer JSON (as text) -> (``re`` pattern for ASCII items, ``regex`` pattern for the rest)."""
    import json

    out = {}
    for name, pattern in (("gpt2", GPT2_PATTERN), ("cl100k", CL100K_PATTERN), ("o200k", O200K_PATTERN)):
        key = json.dumps(byte_level_pre_tokenizer(name), sort_keys=True)  # type: ignore[arg-type]
        out[key] = (_ascii_pattern(pattern), regex.compile(pattern, regex.MULTILINE))
    return out


def fast_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter | None:
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


def raw_counter(normalizer: Mapping[str, Any] | None, pre_tokenizer: Mapping[str, Any] | None) -> RawCounter:
    """The raw counter of a pipeline: `fast_counter` where it applies, else `TextPipeline.count`."""
    fast = fast_counter(normalizer, pre_tokenizer)
    if fast is not None:
        return fast
    pipeline = build_pipeline(normalizer, pre_tokenizer)
    return lambda texts: pipeline.count(texts, surface=False)
