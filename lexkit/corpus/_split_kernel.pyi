"""Type stub of the compiled pre-token counter (``lexkit/corpus/_split_kernel.c``); see `lexkit.corpus.splitting`."""

from collections import Counter
from collections.abc import Callable

class Counts:
    """Raw pre-token counts under split pattern 0 (GPT-2), 1 (cl100k) or 2 (o200k); ASCII text is split in C
    with ``classes`` (128 bytes of class flags), other text by ``fallback``."""

    def __init__(self, pattern: int, classes: bytes, fallback: Callable[[str], list[str]], /) -> None: ...
    def count_texts(self, texts: list[str], /) -> None:
        """Add the pre-tokens of every item."""
    def count_block(self, data: bytes, /) -> int:
        """Add the pre-tokens of every line of the UTF-8 block; the number of lines. Invalid UTF-8 raises
        UnicodeDecodeError before anything is added."""
    def take(self) -> Counter[str]:
        """The counts so far (keys in order of first occurrence); the table starts empty again."""
    def take_surface(self, table: str, /) -> Counter[str]:
        """`take` with each key's UTF-8 bytes mapped through ``table`` (256 distinct characters)."""
    def take_packed(self) -> bytes:
        """The counts so far, packed for `add_packed` (same order); the table starts empty again."""
    def add_packed(self, packed: bytes, /) -> None:
        """Add the counts of a `take_packed` result (new keys at the end, in its order)."""
    def __len__(self) -> int: ...

def add_counts(counts: dict[str, int], partial: dict[str, int], /) -> None:
    """``counts[key] += value`` for every item of ``partial`` (``Counter.update`` without its Python loop)."""
