"""lexkit's WordPiece engine (`lexkit._wordpiece`) against HF ``tokenizers`` on BERT (all-MiniLM-L6-v2).

HF running the same ``tokenizer.json`` is the reference: every code point in context, adversarial strings
(accents, CJK, control characters, NUL, U+FFFD, words over ``max_input_chars_per_word``, emoji, combining
marks, İ and final sigma, the marks NFD reorders), other ``BertNormalizer`` settings, the routed and threaded
paths, lone surrogates. ``test_engine.py`` adds the parity set and corpus text through `lexkit.engine`.
"""

from __future__ import annotations

import copy
import json
import random
from functools import cache
from typing import Any

import _resources
import pytest

import lexkit._wordpiece as wordpiece
from lexkit import Tokenizer
from lexkit._wordpiece import WordPieceEngine, unsupported
from lexkit.encoders import HFEncoder
from lexkit.engine import Engine, split_flat
from lexkit.errors import EncodingError
from lexkit.formats.hf import from_hf

ADVERSARIAL = [
    "Héllo wörld, naïve café — Ångström façade; ÆØÅ æøå ß ẞ ǅ ǰ ﬁ ﬀ",
    "İstanbul IİıI ΣΑΣ ΌΣΟΣ σς Ǆ ῼ ᾈ Å K ΐ",  # Rust's to_lowercase vs Python's lower (U+0130, final sigma)
    "e\u0301 a\u0300\u0301\u0302 \u0301 o\u0308\u0304 \u0345\u0399 \u0301\u0301x",
    "\x00\x01\x1b[0m\x7f\x9f a\x00b \ufffd\ufffdc \u200b\u200c\u200d\u2060\ufeff\u00ad\u061c",
    "日本語のテキストと中文字符 한국어 ｶﾀｶﾅ ａｂｃ 〇 \U00020000\U0002a6df\U0002b740 \uf900 \u3400",
    "😀 👩‍👩‍👧‍👦 👍🏽 🇹🇷 🏳️‍🌈 ❤️ 𝔘𝔫𝔦 𐍈 \U000e0001 \U000f0000 \U00050000 \u0378",
    "x" * 101, "x" * 100, "ab" * 60, "é" * 101, "é" * 100, "日" * 150, "supercalifragilistic" * 20,
    "\U0001d165\u0301\U0001d16d \u1715\u0301 a\u0301\U0001d15e\u0316 \u302e\u0300",  # NFD reorders these
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ¡§¶·¿ ‐–—‘’“”… ※ ‼ ⁂ 、。「」 ﹏ ＂ ＃ ￥ ° ± × ÷ € £ ¢",
    "a\tb\nc\r d\u3000e\u00a0f\u2028g\u2029h\u0085i\u180ej\u1680k\u202fl\u205fm\x0b\x0cn",
    "[CLS] [SEP] [UNK] [MASK] ## ##a ##ing un##able", "", " ", "\n", "   ", "a", "##",
    "http://example.com/a?b=c C:\\path\\to {\"k\": [1, 2]} 3.14159 1,000,000 ٣٤ ①②",
]


@cache
def _data(**normalizer: Any) -> str:
    """The fixture's ``tokenizer.json`` as the engine gets it (specials removed), normalizer options changed."""
    tok = Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json"))
    encoder = tok.encoder
    assert isinstance(encoder, HFEncoder)
    data = copy.deepcopy(encoder.hf_json())
    data["normalizer"].update(normalizer)
    return json.dumps(data)


@cache
def _engine(**normalizer: Any) -> WordPieceEngine:
    """The engine with the tables of every code point (built at once, not after texts above U+FFFF)."""
    engine = WordPieceEngine(json.loads(_data(**normalizer)))
    engine.widen()
    return engine


def _theirs(engine: WordPieceEngine, texts: list[str], add: bool = False) -> list[list[int]]:
    return [e.ids for e in engine.reference.encode_batch(texts, add_special_tokens=add)]


def _ours(engine: WordPieceEngine, texts: list[str], add: bool = False) -> list[list[int]]:
    return split_flat(*engine.encode_batch_flat(texts, add_special_tokens=add))


def _every_code_point() -> list[str]:
    """Every code point but the surrogates, in runs of 40 (so each has neighbours), planes 4-13 sampled."""
    points = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and (not 0x40000 <= c < 0xE0000 or c % 97 == 0)]
    return ["".join(map(chr, points[i:i + 40])) for i in range(0, len(points), 40)]


def _first_difference(ours: list[list[int]], theirs: list[list[int]], texts: list[str]) -> str:
    wrong = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    return f"{len(wrong)} differ, first {texts[wrong[0]]!r}" if wrong else ""


def test_bert_runs_on_the_wordpiece_engine() -> None:
    tok = Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json"))
    assert tok.encoder.engine.name == "wordpiece", tok.encoder.engine.reason  # type: ignore[attr-defined]
    assert tok.encode("Héllo, WORLD!", add_special_tokens=True) == [101, 7592, 1010, 2088, 999, 102]


def test_every_code_point_in_context_equals_hf() -> None:
    """The per-code-point tables against HF on every code point with neighbours."""
    engine = _engine()
    texts = _every_code_point()
    ours, theirs = _ours(engine, texts), _theirs(engine, texts)
    assert not _first_difference(ours, theirs, texts)


def test_adversarial_strings_and_random_mixes_equal_hf() -> None:
    engine = _engine()
    rng = random.Random(19)
    alphabet = "".join(ADVERSARIAL) + "    "
    mixes = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200))) for _ in range(3000)]
    texts = ADVERSARIAL + mixes
    for add in (False, True):
        ours, theirs = _ours(engine, texts, add), _theirs(engine, texts, add)
        assert not _first_difference(ours, theirs, texts)
    assert [engine.encode(t).ids for t in ADVERSARIAL] == _theirs(engine, ADVERSARIAL)


@pytest.mark.parametrize("normalizer", [
    {"lowercase": False, "strip_accents": None},  # cased BERT: no NFD, no lowercasing
    {"clean_text": False, "handle_chinese_chars": False, "strip_accents": True, "lowercase": False},
])
def test_other_bert_normalizer_settings_equal_hf(normalizer: dict[str, Any]) -> None:
    engine = _engine(**normalizer)
    texts = ADVERSARIAL + _every_code_point()[::7]
    ours, theirs = _ours(engine, texts), _theirs(engine, texts)
    assert not _first_difference(ours, theirs, texts)


def test_texts_nfd_would_reorder_go_to_hf_in_a_batch() -> None:
    """A text holding a mark the tables cannot place is encoded by HF; its neighbours stay on the kernel."""
    engine = _engine()
    texts = ["plain text", "x\U0001d165\u0301\U0001d16d y", "more", "\u1715\u0301", "end"]
    _, _, routed, bad = engine._kernel.encode_batch(engine._model, texts, (), ())
    assert routed == [1, 3] and bad == -1
    assert _ours(engine, texts) == _theirs(engine, texts)
    assert _ours(engine, texts, True) == _theirs(engine, texts, True)


def test_texts_above_the_first_plane_go_to_hf_until_the_engine_widens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new engine has the Basic Multilingual Plane's tables only: texts holding a character above U+FFFF are
    encoded by HF (same ids) until `WIDE_ROUTED_CHARS` of them have been, then it builds every code point's, and
    it reuses HF's tokenizer when given it."""
    monkeypatch.setattr(wordpiece, "WIDE_ROUTED_CHARS", 5_000)
    data = json.loads(_data())
    reference = _engine().reference
    engine = WordPieceEngine(data, reference)
    assert engine.reference is reference and not engine.wide
    every = _every_code_point()
    wide = [text for text in every if max(text) > "\uffff"]
    narrow = [text for text in every if max(text) <= "\uffff"][::5]
    texts = ADVERSARIAL + narrow + wide[:100]  # 100 texts of 40 characters: below the threshold
    assert not _first_difference(_ours(engine, texts), _theirs(engine, texts), texts)
    assert not engine.wide
    texts = wide[100:300]  # 8,000 characters more: widens, then encodes them itself
    assert not _first_difference(_ours(engine, texts), _theirs(engine, texts), texts)
    assert engine.wide
    assert not _first_difference(_ours(engine, wide[::5]), _theirs(engine, wide[::5]), wide[::5])


def test_threaded_batches_equal_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine()
    texts = [t for t in ADVERSARIAL if t] * 40
    single = _ours(engine, texts)
    monkeypatch.setattr(wordpiece, "PARALLEL_CHARS", 100)
    monkeypatch.setattr(wordpiece.os, "cpu_count", lambda: 3)
    assert len(wordpiece._parts(texts)) == 3
    assert _ours(engine, texts) == single == _theirs(engine, texts)
    assert _ours(engine, texts, True) == _theirs(engine, texts, True)


def test_long_runs_are_one_unknown_token_per_word_in_bounded_memory() -> None:
    engine = _engine()
    texts = ["x" * 1_000_000, "é" * 300_000 + " ok", "日" * 100_000]
    assert _ours(engine, texts) == _theirs(engine, texts)
    assert _ours(engine, texts[:1]) == [[100]]


def test_lone_surrogate_gives_the_one_line_error_of_other_paths() -> None:
    tok = Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json"))
    with pytest.raises(UnicodeEncodeError):
        _engine().encode_batch_flat(["fine", "a\ud800b"])
    for call in (lambda: tok.encode_batch(["fine", "a\udfffb"]), lambda: tok.encode("a\udfffb")):
        with pytest.raises(EncodingError, match=r"lone surrogate U\+DFFF at character 1") as info:
            call()
        assert "\n" not in str(info.value)


def test_other_shapes_keep_the_hf_engine() -> None:
    data = json.loads(_data())
    assert unsupported(data) == ""
    refused = {
        "added token": {**data, "added_tokens": [{"id": 5, "content": "zz", "single_word": False, "lstrip": False,
                                                  "rstrip": False, "normalized": True, "special": False}]},
        "other pre-tokenizer": {**data, "pre_tokenizer": {"type": "Whitespace"}},
        "normalizer sequence": {**data, "normalizer": {"type": "Sequence", "normalizers": [data["normalizer"]]}},
        "BPE model": {**data, "model": {**data["model"], "type": "BPE"}},
    }
    for what, shape in refused.items():
        assert unsupported(shape), what
    from tokenizers import Tokenizer as HFTokenizer

    shape = refused["other pre-tokenizer"]
    engine = Engine(shape, HFTokenizer.from_str(json.dumps(shape)))
    assert engine.name == "tokenizers"
