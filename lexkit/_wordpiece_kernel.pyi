"""Type stub of the compiled WordPiece kernel (``lexkit/_wordpiece_kernel.c``); see `lexkit._wordpiece`."""

from collections.abc import Sequence
from typing import Any

def new_model(code_map: bytes, pool: bytes, classes: bytes, tokens: list[bytes], ids: list[int], unk: int,
              prefix: bytes, max_chars: int, /) -> Any:
    """A compiled model: per-code-point normalizer map and pool, pre-tokenizer classes, vocabulary hash."""

def encode_batch(model: Any, texts: list[str], prefix: Sequence[int], suffix: Sequence[int], /
                 ) -> tuple[bytes, bytes, list[int], int]:
    """(uint32 ids, uint64 offsets, indices of texts left to HF, index of a text with a lone surrogate or -1)."""

def encode_bytes(model: Any, data: bytes, lengths: Any, counts: Any, table: bytes, prefix: Sequence[int],
                 suffix: Sequence[int], /) -> tuple[bytes, bytes]:
    """(uint32 ids, uint64 offsets) of byte-level pre-tokens: ``data`` the texts' UTF-8, ``lengths`` (uint32) each
    pre-token's bytes, ``counts`` (uint32) each text's pre-tokens, ``table`` the 256 byte surfaces (UTF-8)."""
