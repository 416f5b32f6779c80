"""`lexkit.stream`: the id formatter against Python's own decimal formatting, which tokenizers stream, and Mistral
streamed against sentencepiece."""

from __future__ import annotations

from pathlib import Path

import _resources
import numpy as np
import pytest

import lexkit.stream as stream_module
from lexkit import Tokenizer
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.formats.tiktoken import from_tiktoken
from lexkit.stream import code_points, format_ids, joinable, streamable, text_runs


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


def test_sentencepiece_bpe_streams_3_mb_with_sentencepiece_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """3 MB of the real corpus through `encode_file` on Mistral in 64 KiB blocks (about 46 cuts by the tail rule,
    and the engine's own cuts inside none): the ids of sentencepiece on the whole text."""
    import sentencepiece as spm

    model = _resources.mistral_sp_model()
    monkeypatch.setattr(stream_module, "READ_BYTES", 1 << 16)
    with open(_resources.corpus_path(), encoding="utf-8") as handle:
        text = handle.read(3_000_000)
    path = tmp_path / "in.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(stream_module.encode_file(Tokenizer(from_sentencepiece(model)), path))
    assert len(pieces) >= 40
    processor = spm.SentencePieceProcessor(model_file=str(model))
    assert np.concatenate(pieces).tolist() == processor.encode(text)


# Lines that probe each rule of text_runs: the end and start characters, indentation, "/", white space, no newline.
_EDGE_LINES = [
    "plain line\n", "ends with a dot.\n", "/slash after a newline\n", "  two-space indent\n", " one space\n",
    "\tindented with a tab\n", "\n", "\n", "trailing space \n", "x\n", "(parenthesis)\n", "12345 digits\n",
    "   \n", "\u00e9t\u00e9 \u65e5\u672c\n", "\u0301 combining start\n", "emoji \U0001f600\n", ".\n", "/\n",
    "crlf line\r\n", "\r\n", "no newline at the end",
]


def _line_by_line(tokenizer: Tokenizer, lines: list[str]) -> np.ndarray:
    ids, _ = tokenizer.encode_batch_flat(lines, disallowed_special=())
    return np.bincount(ids, minlength=len(tokenizer.vocabulary))


def _joined(tokenizer: Tokenizer, lines: list[str], run_chars: int) -> tuple[np.ndarray, int]:
    joining = joinable(tokenizer)
    assert joining is not None
    joined = "".join(lines)
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum([len(line) for line in lines], out=offsets[1:])
    runs, blanks = text_runs(lines, code_points(joined), offsets, joining, run_chars=run_chars)
    ids, _ = tokenizer.encode_batch_flat(runs, disallowed_special=())
    newline, _ = tokenizer.encode_batch_flat(["\n"], disallowed_special=())
    counts = np.bincount(np.concatenate([ids, np.tile(newline, blanks)]), minlength=len(tokenizer.vocabulary))
    return counts, len(runs)


def test_text_runs_hold_the_ids_of_every_line_on_the_real_corpus() -> None:
    """The bag of ids of the joined runs equals line-by-line encoding (1 MB of the English corpus plus edge lines,
    shuffled so every edge line meets every kind of neighbour), for GPT-2, cl100k and o200k."""
    with open(_resources.corpus_path(), encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(27_000), handle)]
    rng = np.random.default_rng(5)
    edges = [_EDGE_LINES[i] for i in rng.integers(0, len(_EDGE_LINES), 3000)]
    mixed = lines + edges
    order = rng.permutation(len(mixed))
    shuffled = [mixed[i] for i in order[: len(order) // 2]]  # part shuffled, part in the corpus's own order
    texts = lines + shuffled
    for tokenizer in (Tokenizer.load(_resources.gpt2_tokenizer_json()),
                      Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
                      Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base")))):
        expected = _line_by_line(tokenizer, texts)
        counts, runs = _joined(tokenizer, texts, run_chars=1 << 14)
        assert np.array_equal(counts, expected)
        assert runs < len(texts) / 3  # the joining is real: far fewer engine calls than lines


def test_text_runs_keep_lines_apart_where_joining_would_change_ids() -> None:
    r"""GPT-2's pattern makes "\n" and the spaces of an indented next line one pre-token: its rule keeps them
    apart, while cl100k's (``\s*[\r\n]+`` tried first) joins them."""
    gpt2 = Tokenizer.load(_resources.gpt2_tokenizer_json())
    lines = ["word\n", "  indented\n"]
    counts, runs = _joined(gpt2, lines, run_chars=1 << 14)
    assert runs == 2 and np.array_equal(counts, _line_by_line(gpt2, lines))
    cl100k = Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base")))
    counts, runs = _joined(cl100k, lines, run_chars=1 << 14)
    assert runs == 1 and np.array_equal(counts, _line_by_line(cl100k, lines))
