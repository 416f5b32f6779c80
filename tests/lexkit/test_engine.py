"""The encode engine (`lexkit.engine`): fastokens where it reproduces HF, cuts that cannot change ids, bad input.

HF ``tokenizers`` running the same ``tokenizer.json`` is the reference throughout; the parity set of
``test_real_tokenizers.py`` is reused so both files judge the same strings.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache

import _resources
import pytest
from _resources import parity_strings

import lexkit.engine as engine_module
from lexkit import Tokenizer
from lexkit.encoders import HFEncoder
from lexkit.engine import Engine, last_boundary, split_points
from lexkit.errors import EncodingError
from lexkit.formats.hf import from_hf
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.formats.tiktoken import from_tiktoken

# name -> (loader, engine expected to run it, long texts cut?)
TOKENIZERS: dict[str, tuple[Callable[[], Tokenizer], str, bool]] = {
    "gpt2": (lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())), "fastokens", True),
    # fastokens splits U+180E between spaces otherwise than HF and tiktoken: cl100k texts holding it go to HF.
    "cl100k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))), "fastokens",
                    True),
    "o200k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))), "fastokens", True),
    "llama3": (lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())), "fastokens", True),
    "qwen2.5": (lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))), "fastokens", True),
    "mistral-v1": (lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())), "fastokens", False),
    # fastokens has no WordPiece model: BERT runs on lexkit's own engine (lexkit._wordpiece), cut all the same.
    "bert-minilm": (lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")), "wordpiece", True),
}


@cache
def _tokenizer(name: str) -> Tokenizer:
    return TOKENIZERS[name][0]()


def _encoder(name: str) -> HFEncoder:
    encoder = _tokenizer(name).encoder
    assert isinstance(encoder, HFEncoder)
    return encoder


@cache
def corpus_text(chars: int = 1_500_000) -> str:
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        return handle.read(chars)


def _reference(encoder: HFEncoder, texts: list[str], add: bool = False) -> list[list[int]]:
    return [e.ids for e in encoder.backend.encode_batch(texts, add_special_tokens=add)]


# ----------------------------------------------------------------------------------------------------------------
# which engine runs
@pytest.mark.parametrize("name", TOKENIZERS)
def test_engine_choice_is_recorded(name: str) -> None:
    engine = _encoder(name).engine
    assert engine.name == TOKENIZERS[name][1], engine.reason
    assert engine.splittable == TOKENIZERS[name][2]
    if engine.name == "tokenizers":
        assert engine.reason.startswith(("fastokens cannot run it", "fastokens gives other ids")), engine.reason


def test_engine_falls_back_when_fastokens_differs_on_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fastokens that answers differently from HF on one probe text is never used."""
    encoder = _encoder("gpt2")
    real = Engine(encoder.hf_json(), encoder.backend)
    assert real.name == "fastokens"

    class Wrong:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def encode_batch_flat(self, texts: list[str], add_special_tokens: bool = False,
                              **options: bool) -> tuple[bytes, bytes]:
            ids, offsets = self.inner.encode_batch_flat(texts, add_special_tokens=add_special_tokens, **options)  # type: ignore[attr-defined]
            return bytes(reversed(ids)), offsets

    import fastokens

    built = fastokens.Tokenizer.from_json_str
    monkeypatch.setattr(fastokens.Tokenizer, "from_json_str", lambda text: Wrong(built(text)))
    fallback = Engine(encoder.hf_json(), encoder.backend)
    assert fallback.name == "tokenizers" and "other ids than HF" in fallback.reason
    texts = list(parity_strings()[:300])
    assert fallback.encode_batch(texts) == _reference(encoder, texts)


def test_texts_with_an_odd_space_fastokens_misreads_go_to_hf() -> None:
    """cl100k: fastokens reads U+180E otherwise than HF and tiktoken, so only texts holding it go to HF."""
    encoder = _encoder("cl100k_base")
    engine = encoder.engine
    assert engine.name == "fastokens" and engine.routed == "\u180e"
    assert not _encoder("gpt2").engine.routed
    lines = corpus_text(200_000).splitlines(keepends=True)[:400]
    odd = ["a:  \u180e  \"b\".", "7\u180e'S", "x\u180e\n\u180e y\u180e", "12\u180e 34 \u180e\u180e  x"]
    texts = [*lines[:200], *odd, *lines[200:], *(line + odd[0] for line in lines[:20])]
    raw, _ = engine.fast.encode_batch_flat(odd, split_special_tokens=True)  # the disagreement routing is for
    assert list(memoryview(raw).cast("I")) != [i for ids in _reference(encoder, odd) for i in ids]
    assert engine.encode_batch(texts) == _reference(encoder, texts)
    assert engine.encode_batch(texts, add_special_tokens=True) == _reference(encoder, texts, add=True)
    assert [engine.encode(text) for text in odd] == _reference(encoder, odd)
    long_text = "".join(texts) * 300  # cut into pieces, some holding U+180E
    assert engine.encode(long_text) == encoder.backend.encode(long_text).ids


@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_engine_finds_special_token_text_while_encoding(name: str) -> None:
    """With the specials added to fastokens, one pass gives the ordinary ids and tells whether any text holds a
    special token's text (such a batch is left to the exact scan)."""
    encoder = _encoder(name)
    engine = encoder.engine
    assert engine.specials == encoder.vocabulary.special_tokens
    clean = [t for t in parity_strings()[:3000] if not any(s in t for s in engine.specials)]
    found = engine.encode_batch_flat_scanned(clean)
    assert found is not None
    ids, offsets = found
    assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == _reference(encoder, clean)
    for special in list(engine.specials)[::50]:
        assert engine.encode_batch_flat_scanned([*clean[:50], f"a{special}b", "c"]) is None


def test_encoders_exporting_one_tokenizer_json_share_one_engine() -> None:
    """The engine cache (`lexkit.encoders._engines`): equal ``tokenizer.json`` and specials give one engine (ids
    still HF's), a different vocabulary its own."""
    path = _resources.gpt2_tokenizer_json()
    first, second = _tokenizer("gpt2"), Tokenizer(from_hf(path))
    assert first.vocabulary is not second.vocabulary
    assert second.encoder.engine is first.encoder.engine
    assert second.encoder.backend is first.encoder.backend  # type: ignore[attr-defined]
    assert Tokenizer(first.vocabulary, encoder="scaffold").encoder.engine is first.encoder.engine
    fewer = first.vocabulary.replace(merges=first.vocabulary.merges[:-1])  # one merge fewer: another vocabulary
    other = Tokenizer(fewer).encoder
    assert isinstance(other, HFEncoder) and other.compiled is not _encoder("gpt2").compiled
    texts = list(parity_strings()[:2000]) + corpus_text(100_000).splitlines(keepends=True)
    assert second.encode_batch(texts, disallowed_special=()) == _reference(_encoder("gpt2"), texts)


def test_engine_cache_exports_each_vocabulary_once_and_never_shares_between_different_ones(monkeypatch) -> None:
    """`lexkit.encoders._engines.compiled_for`: encoders on one vocabulary, or on an equal one (another object),
    reuse its compiled export without exporting again; a vocabulary differing in any field gets its own engine."""
    import lexkit.formats.hf as hf_format
    from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
    from lexkit.vocabulary import Vocabulary

    exports: list[int] = []
    real_to_hf = hf_format.to_hf
    monkeypatch.setattr(hf_format, "to_hf", lambda v, **kw: exports.append(len(v)) or real_to_hf(v, **kw))
    gpt2 = _tokenizer("gpt2").vocabulary
    first = _encoder("gpt2").compiled
    equal = Tokenizer(gpt2.replace(metadata=dict(gpt2.metadata)))  # another object, equal content
    assert equal.vocabulary is not gpt2
    assert equal.encoder.compiled is first and Tokenizer(gpt2, encoder="scaffold").encoder.compiled is first
    assert exports == []
    assert Tokenizer(gpt2, encoder="long-first").encoder.compiled is not first and exports == [len(gpt2)]

    pipeline = {"pre_tokenizer": byte_level_pre_tokenizer(), "decoder": byte_level_decoder()}
    base = [bytes([b]) for b in range(256)]
    small = Vocabulary.from_merges(base, [(b"h", b"i"), (b"hi", b"s")], **pipeline)
    variants = {
        "equal": Vocabulary.from_merges(base, [(b"h", b"i"), (b"hi", b"s")], **pipeline),
        "one merge fewer": Vocabulary.from_merges(base, [(b"h", b"i")], **pipeline),
        "merges swapped": small.replace(merges=small.merges[::-1][1:] + small.merges[:1]),
        "a special": Vocabulary.from_merges(base, [(b"h", b"i"), (b"hi", b"s")], specials=["<s>"], **pipeline),
        "no decoder": small.replace(decoder=None),
        "metadata": small.replace(metadata={"hf": {"merges_as_strings": True}}),
    }
    reference = Tokenizer(small).encoder
    for name, vocabulary in variants.items():
        encoder = Tokenizer(vocabulary).encoder
        assert isinstance(encoder, HFEncoder) and isinstance(reference, HFEncoder)
        assert (encoder.compiled is reference.compiled) == (name == "equal"), name
    assert Tokenizer(small).encode("his") == [257]
    assert Tokenizer(variants["one merge fewer"]).encode("his") == [256, ord("s")]


# ----------------------------------------------------------------------------------------------------------------
# ids identical to HF
@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_ids_equal_hf_on_parity_set_and_corpus(name: str) -> None:
    encoder = _encoder(name)
    texts = list(parity_strings()) + corpus_text(300_000).splitlines(keepends=True)
    assert encoder.engine.encode_batch(texts) == _reference(encoder, texts)
    assert encoder.engine.encode_batch(texts[:2000], add_special_tokens=True) == _reference(encoder, texts[:2000], True)
    assert [encoder.engine.encode(t) for t in texts[:500]] == _reference(encoder, texts[:500])


@pytest.mark.slow
@pytest.mark.parametrize("name", TOKENIZERS)
def test_ids_equal_hf_on_parity_set_and_corpus_all(name: str) -> None:
    encoder = _encoder(name)
    texts = list(parity_strings()) + corpus_text().splitlines(keepends=True)
    ours, offsets = _tokenizer(name).encode_batch_flat(texts, disallowed_special=())
    theirs = _reference(encoder, texts)
    assert offsets[-1] == sum(map(len, theirs))
    assert ours.tolist() == [i for ids in theirs for i in ids]
    assert _tokenizer(name).encode_batch(texts, disallowed_special=()) == theirs


def test_flat_form_matches_lists() -> None:
    tok = _tokenizer("gpt2")
    texts = list(parity_strings()[:1000])
    ids, offsets = tok.encode_batch_flat(texts)
    lists = tok.encode_batch(texts)
    assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == lists
    assert len(offsets) == len(texts) + 1


# ----------------------------------------------------------------------------------------------------------------
# cuts that cannot change ids
def _boundary_stress(rng: random.Random, size: int) -> str:
    """Corpus text with whitespace mangled around letters: the spots where a wrong cut would show."""
    words = corpus_text(200_000).split(" ")
    pieces = []
    for word in words[:size]:
        pieces.append(word)
        pieces.append(rng.choice([" ", "  ", "\n", "\n\n", " \n", "\n ", "\r\n", "   \n\n", " '", "\t", "\u00a0", "."]))
    return "".join(pieces)


@pytest.mark.parametrize("name", [n for n, spec in TOKENIZERS.items() if spec[2]])
def test_every_cut_position_keeps_hf_ids(name: str) -> None:
    """The proof of `split_points` against HF: at every candidate position of a stress text, the ids of the two
    halves encoded apart are the ids of the whole."""
    encoder = _encoder(name)
    text = _boundary_stress(random.Random(7), 600)
    candidates = [p for p in range(1, len(text)) if text[p] in " \n" and text[p - 1].isalpha()]
    assert len(candidates) > 200
    whole = encoder.backend.encode(text, add_special_tokens=False).ids
    halves = _reference(encoder, [piece for p in candidates for piece in (text[:p], text[p:])])
    wrong = [p for k, p in enumerate(candidates) if halves[2 * k] + halves[2 * k + 1] != whole]
    assert not wrong, f"cut at {wrong[0]} changes the ids: {text[wrong[0] - 20:wrong[0] + 20]!r}"


@pytest.mark.parametrize("name", [n for n, spec in TOKENIZERS.items() if spec[2]])
def test_long_text_is_cut_and_keeps_hf_ids(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = _encoder(name)
    text = _boundary_stress(random.Random(11), 20_000)
    monkeypatch.setattr(engine_module, "PIECE_CHARS", 500)  # many pieces: every cut is exercised
    assert len(split_points(text, 500)) > 100
    expected = encoder.backend.encode(text, add_special_tokens=False).ids
    assert encoder.engine.encode(text) == expected
    with_specials = encoder.backend.encode(text, add_special_tokens=True).ids
    assert encoder.engine.encode_batch(["short", text], add_special_tokens=True)[1] == with_specials


def test_hf_engine_encodes_in_groups_with_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HF path (any tokenizer no fast engine runs; here BERT with the fast engines turned off) holds large
    encodings: long texts and many texts go through it in groups of about `HF_GROUP_CHARS` characters (bounded
    memory), with the ids of one call."""
    encoder = _encoder("bert-minilm")
    monkeypatch.setattr(engine_module, "_build_fast", lambda *args: (None, "turned off by the test"))
    engine = engine_module.Engine(encoder.hf_json(), encoder.backend, specials=encoder.vocabulary.special_tokens)
    assert engine.name == "tokenizers"
    monkeypatch.setattr(engine_module, "PIECE_CHARS", 1000)
    monkeypatch.setattr(engine_module, "HF_GROUP_CHARS", 5000)
    monkeypatch.setattr(engine_module.os, "cpu_count", lambda: 1)
    text = corpus_text(60_000).replace("\n", " ")
    lines = corpus_text(40_000).splitlines(keepends=True)
    groups = engine_module._groups(lines, 5000)
    assert len(groups) > 5 and groups[0][0] == 0 and groups[-1][1] == len(lines)
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    assert engine.encode(text) == encoder.backend.encode(text, add_special_tokens=False).ids
    texts = [*lines, "", text, "x"]
    assert engine.encode_batch(texts) == _reference(encoder, texts)
    assert engine.encode_batch(texts, add_special_tokens=True) == _reference(encoder, texts, add=True)


def test_sentencepiece_bpe_is_cut_with_a_tail_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mistral prepends the word marker to the text's start only: long texts are cut all the same, the pieces
    after the first encoded without the marker (`prepend_tail`), with HF's ids; streaming cuts by the same rule."""
    encoder = _encoder("mistral-v1")
    engine = encoder.engine
    assert not engine.splittable and engine.tail is not None and engine.tail.name == "fastokens"
    assert engine_module.prepend_tail(_encoder("gpt2").hf_json()) is None
    monkeypatch.setattr(engine_module, "PIECE_CHARS", 500)
    for text in (corpus_text(40_000), _boundary_stress(random.Random(5), 4_000), "  " + corpus_text(5_000)):
        assert len(split_points(text, 500)) > 5
        assert engine.encode(text) == encoder.backend.encode(text, add_special_tokens=False).ids
        with_specials = encoder.backend.encode(text, add_special_tokens=True).ids
        assert engine.encode_batch(["short", text, text], add_special_tokens=True)[1:] == [with_specials] * 2


@pytest.mark.slow
def test_sentencepiece_bpe_cut_gives_sentencepiece_ids_on_10_mb() -> None:
    """10 MB of the real corpus as one text, cut into pieces, against sentencepiece itself."""
    import sentencepiece as spm

    text = corpus_text(10_000_000)
    assert len(split_points(text)) > 30
    processor = spm.SentencePieceProcessor(model_file=str(_resources.mistral_sp_model()))
    assert _tokenizer("mistral-v1").encode(text, disallowed_special=()) == processor.encode(text)


def test_split_points_and_last_boundary() -> None:
    text = "alpha beta\n\ngamma 42 delta"
    assert split_points(text, 3) == [10, 17]  # a newline cut is preferred within the search window
    assert last_boundary(text) == 17
    assert last_boundary("x1 22, 3\n") == -1 and split_points("x" * 100, 10) == []


# ----------------------------------------------------------------------------------------------------------------
# bad input
@pytest.mark.parametrize("name", ["gpt2", "o200k_base"])
def test_bad_input_same_ids_as_hf(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = _encoder(name)
    monkeypatch.setattr(engine_module, "PIECE_CHARS", 4096)
    no_newline = corpus_text(400_000).replace("\n", " ")
    texts = [no_newline, "a\x00b\x00\x00 c", "\x00" * 1000, "a" * 1_000_000, "😀" * 200_000, " " * 300_000 + "x"]
    for text in texts:
        assert encoder.engine.encode(text) == encoder.backend.encode(text, add_special_tokens=False).ids, text[:20]


def test_lone_surrogate_is_a_one_line_error() -> None:
    tok = _tokenizer("gpt2")
    with pytest.raises(EncodingError, match=r"text 1 holds a lone surrogate U\+D800 at character 3") as info:
        tok.encode_batch(["fine", "abc\ud800def"])
    assert "\n" not in str(info.value)
    with pytest.raises(EncodingError, match="lone surrogate U\\+DC00 at character 0"):
        tok.encode("\udc00")
