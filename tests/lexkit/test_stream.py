"""`lexkit.stream`: the id formatter against Python's own decimal formatting, and which tokenizers stream."""

from __future__ import annotations

import _resources
import numpy as np

from lexkit import Tokenizer
from lexkit.formats.tiktoken import from_tiktoken
from lexkit.stream import format_ids, streamable


def test_format_ids_matches_str_join() -> None:
    rng = np.random.default_rng(3)
    edges = [0, 1, 9, 10, 99, 100, 999_999_999, 1_000_000_000, 2**32 - 1]
    ids = np.concatenate([np.array(edges), rng.integers(0, 2**32, 5000), rng.integers(0, 300, 5000)])
    ids = ids.astype(np.uint32)
    assert format_ids(ids) == " ".join(map(str, ids.tolist())).encode()
    assert format_ids(np.array([], dtype=np.uint32)) == b""
    assert format_ids(np.array([7], dtype=np.uint32)) == b"7"


def test_published_byte_level_tokenizers_stream() -> None:
    assert streamable(Tokenizer.load(_resources.gpt2_tokenizer_json()))
    assert streamable(Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))))
