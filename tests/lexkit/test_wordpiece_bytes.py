"""lexkit's byte-level WordPiece engine (`lexkit._wordpiece.ByteLevelWordPieceEngine`) against HF ``tokenizers``.

The vocabularies are ByteSpan's (``longest-prefix`` over GPT-2, cl100k and o200k byte-level pre-tokens, ``#``
isolated first), trained here on real English text; HF running the same ``tokenizer.json`` is the reference on
the 10,020-string parity set, corpus lines, adversarial strings (``#`` runs, pre-tokens at and over
``max_input_chars_per_word`` bytes, multi-byte characters, emoji) and random mixes, with and without the
post-processor, in one thread and in several.
"""

from __future__ import annotations

import json
import random
from functools import cache

import _resources
import pytest
from _resources import parity_strings

import lexkit._wordpiece as wordpiece
from lexkit import Tokenizer
from lexkit._wordpiece import ByteLevelWordPieceEngine, byte_level_unsupported
from lexkit.encoders import HFEncoder
from lexkit.engine import Engine, split_flat
from lexkit.errors import EncodingError
from lexkit.vocab import ByteSpanConfig, train

ADVERSARIAL = [
    "#", "##", "###", "a#b ## c", "#hash #tag ##ing x##y", "price: $5 #1 (#2)", "", " ", "\n\n", "\t \r\n",
    "x" * 100, "x" * 101, " " + "x" * 99, "é" * 50, "é" * 51, "日本語" * 40, "😀" * 25, "😀" * 26,
    "emoji 😀 👩‍👩‍👧‍👦 👍🏽 🇹🇷 ❤️", "İstanbul IİıI ΣΑΣ σς ß ﬁ", "\x00\x01\x1b[0m\x7f a\x00b \ufffd",
    "don't I'M he'll they'RE 1234567 3.14 ٣٤ ①②", "a  b   c    d\n  e", "\u00a0\u2002\u3000\u200b\u180e x",
    "supercalifragilisticexpialidocious" * 4, "http://example.com/a?b=c {\"k\": [1, 2]} C:\\path",
]


@cache
def _lines(chars: int) -> tuple[str, ...]:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return tuple(handle.read(chars).splitlines(keepends=True))


@cache
def _encoder(pre_tokenizer: str) -> HFEncoder:
    """ByteSpan (n-gram byte LM, 2,000 tokens) trained on 200 KB of the English fixture."""
    vocabulary = train(list(_lines(200_000)), ByteSpanConfig(vocab_size=2000, pre_tokenizer=pre_tokenizer),  # type: ignore[arg-type]
                       progress=False)
    encoder = Tokenizer(vocabulary).encoder
    assert isinstance(encoder, HFEncoder)
    return encoder


def _mismatch(encoder: HFEncoder, texts: list[str], add: bool = False) -> str:
    ours = split_flat(*encoder.engine.encode_batch_flat(texts, add_special_tokens=add))
    theirs = [e.ids for e in encoder.backend.encode_batch(texts, add_special_tokens=add)]
    wrong = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    return f"{len(wrong)} differ, first {texts[wrong[0]]!r}" if wrong else ""


@pytest.mark.parametrize("pre_tokenizer", ["gpt2", "cl100k", "o200k"])
def test_bytespan_runs_on_the_wordpiece_engine_with_hf_ids(pre_tokenizer: str) -> None:
    encoder = _encoder(pre_tokenizer)
    assert encoder.name == "longest-prefix"
    assert encoder.engine.name == "wordpiece", encoder.engine.reason
    assert isinstance(encoder.engine.fast, ByteLevelWordPieceEngine)
    rng = random.Random(19)
    alphabet = "".join(ADVERSARIAL) + "    ##"
    mixes = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 160))) for _ in range(1000)]
    texts = list(parity_strings()) + list(_lines(300_000)) + ADVERSARIAL + mixes
    assert not _mismatch(encoder, texts)
    assert not _mismatch(encoder, ADVERSARIAL + mixes[:200], add=True)
    assert encoder.encode_ordinary("a#b") == [e.ids for e in encoder.backend.encode_batch(["a#b"])][0]


def test_threaded_batches_equal_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = _encoder("gpt2")
    texts = [t for t in ADVERSARIAL if t] * 30 + list(_lines(50_000))
    single = split_flat(*encoder.engine.encode_batch_flat(texts))
    monkeypatch.setattr(wordpiece, "PARALLEL_CHARS", 100)
    monkeypatch.setattr(wordpiece.os, "cpu_count", lambda: 3)
    assert len(wordpiece._parts(texts)) == 3
    assert split_flat(*encoder.engine.fast.encode_batch_flat(texts)) == single
    assert not _mismatch(encoder, texts)


def test_texts_whose_pre_tokens_do_not_tile_go_to_hf(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text the pre-tokenizer would not tile (never seen with the published patterns) is encoded by HF."""
    engine = _encoder("gpt2").engine.fast
    texts = ["plain text", "drop me", "more", "drop this too", "end"]
    expected = [e.ids for e in engine.reference.encode_batch(texts, add_special_tokens=True)]
    split = engine._split
    monkeypatch.setattr(engine, "_split", lambda text: split(text)[1:] if text.startswith("drop") else split(text))
    assert split_flat(*engine.encode_batch_flat(texts, add_special_tokens=True)) == expected


def test_lone_surrogate_gives_the_one_line_error_of_other_paths() -> None:
    encoder = _encoder("gpt2")
    with pytest.raises(UnicodeEncodeError):
        encoder.engine.fast.encode_batch_flat(["fine", "a\ud800b"])
    with pytest.raises(EncodingError, match=r"lone surrogate U\+DFFF at character 1"):
        encoder.encode_ordinary_batch(["fine", "a\udfffb"])


def test_other_shapes_keep_the_hf_engine() -> None:
    data = _encoder("gpt2").hf_json()
    assert byte_level_unsupported(data) == ""
    byte_level = data["pre_tokenizer"]["pretokenizers"][-1]
    refused = {
        "normalizer": {**data, "normalizer": {"type": "NFKC"}},
        "prefix space": {**data, "pre_tokenizer": {**byte_level, "add_prefix_space": True}},
        "other pattern": {**data, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\w+|\W"}, "behavior": "Isolated", "invert": False},
            {**byte_level, "use_regex": False}]}},
        "BPE model": {**data, "model": {**data["model"], "type": "BPE"}},
    }
    for what, shape in refused.items():
        assert byte_level_unsupported(shape), what
    from tokenizers import Tokenizer as HFTokenizer

    shape = refused["normalizer"]
    engine = Engine(shape, HFTokenizer.from_str(json.dumps(shape)))
    assert engine.name == "tokenizers"
    assert engine.encode("Ｈello ﬁ") == HFTokenizer.from_str(json.dumps(shape)).encode("Ｈello ﬁ").ids
