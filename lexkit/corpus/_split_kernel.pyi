"""Type stub of the compiled pre-token counter (``lexkit/corpus/_split_kernel.c``); see `lexkit.corpus.splitting`."""

from collections.abc import Callable

def count_into(
    texts: list[str], pattern: int, classes: bytes, fallback: Callable[[str], list[str]], counts: dict[str, int], /
) -> None:
    """Add the raw pre-token counts of ``texts`` under split pattern 0 (GPT-2), 1 (cl100k) or 2 (o200k) to
    ``counts`` (new keys in order of first occurrence); non-ASCII items are split by ``fallback``."""

def add_counts(counts: dict[str, int], partial: dict[str, int], /) -> None:
    """``counts[key] += value`` for every item of ``partial`` (``Counter.update`` without its Python loop)."""

def count_block(
    data: bytes, pattern: int, classes: bytes, fallback: Callable[[str], list[str]], counts: dict[str, int], /
) -> int:
    """`count_into` for the lines of the UTF-8 bytes ``data`` (split after each ``\\n``); returns the number of
    lines. Raises UnicodeDecodeError on invalid UTF-8, leaving ``counts`` unchanged."""
