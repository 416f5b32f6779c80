"""Native lexkit.json: lossless round trips for every kind of vocabulary, identical bytes, versions, corrupt input."""

from __future__ import annotations

import io
import json

import pytest
import sentencepiece as spm
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from lexkit import AddedTokenOptions, FormatError, Token, TokenKind, Vocabulary
from lexkit.embedded import default_corpus
from lexkit.formats import load_vocabulary, native
from lexkit.formats.hf import from_hf
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.formats.tiktoken import from_tiktoken
from lexkit.vocabulary import Alphabet

FIELDS = ("tokens", "merges", "alphabet", "model", "model_options", "normalizer", "pre_tokenizer",
          "post_processor", "decoder", "metadata")


def fields(vocabulary: Vocabulary) -> dict[str, object]:
    """The vocabulary's data as a comparable dict (Vocabulary itself compares by identity)."""
    return {name: getattr(vocabulary, name) for name in FIELDS}


def _hf_byte_level() -> Vocabulary:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator(default_corpus("prose")[:100], trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return from_hf(hf.to_str())


def _sentencepiece(model_type: str) -> Vocabulary:
    writer = io.BytesIO()
    lines = [line for doc in default_corpus("prose")[:100] for line in doc.splitlines() if line.strip()]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=writer, model_type=model_type,
                                   vocab_size=500, byte_fallback=True, num_threads=1, minloglevel=2,
                                   user_defined_symbols=["<u>"])
    return from_sentencepiece(writer.getvalue())


def _scaffolded() -> Vocabulary:
    v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"ab", b"c"), (b"x", b"y")])
    tokens = list(v.tokens)
    tokens[256] = Token(256, b"ab", scaffold=True)
    return v.replace(tokens=tuple(tokens), metadata={"trainer": {"name": "scaffold-bpe", "unicode": "é😀"}})


def _codebook() -> Vocabulary:
    base = [Token(i, i.to_bytes(2, "big")) for i in range(300)]
    tokens = [*base, Token(300, (1).to_bytes(2, "big") + (2).to_bytes(2, "big"))]
    return Vocabulary(tuple(tokens), ((1, 2),), alphabet=Alphabet.codebook(300))


def _odd_tokens() -> Vocabulary:
    tokens = [Token(i, bytes([i])) for i in range(256)]
    tokens += [Token(256, b"", TokenKind.UNUSED), Token(257, b"<x>", TokenKind.ADDED,
                                                        added=AddedTokenOptions(lstrip=True, in_model_vocab=True)),
               Token(258, b"\x00\xff", score=-1.5), Token(259, b"<s>", TokenKind.SPECIAL)]
    return Vocabulary(tuple(tokens), ((0, 255),))


BUILDERS = {
    "hf-byte-level": _hf_byte_level,
    "tiktoken": lambda: from_tiktoken({bytes([b]): b for b in range(256)} | {b"ab": 256, b"abc": 257},
                                      special_tokens={"<|end|>": 259}, name="tiny"),
    "sentencepiece-bpe": lambda: _sentencepiece("bpe"),
    "sentencepiece-unigram": lambda: _sentencepiece("unigram"),
    "scaffolded": _scaffolded,
    "codebook": _codebook,
    "odd-tokens": _odd_tokens,
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_round_trip_is_lossless_and_saving_twice_gives_identical_bytes(tmp_path, name):
    v = BUILDERS[name]()
    first = native.save(v, tmp_path / "a")
    second = native.save(native.load(first), tmp_path / "b" / "lexkit.json")
    assert first == tmp_path / "a" / "lexkit.json"
    assert first.read_bytes() == second.read_bytes()
    assert fields(native.load(tmp_path / "a")) == fields(v)
    assert fields(load_vocabulary(first)) == fields(v)
    native.save(v, first)
    assert first.read_bytes() == second.read_bytes()


@st.composite
def vocabularies(draw: st.DrawFn) -> Vocabulary:
    """Random BPE vocabularies: merges over random earlier tokens, a few specials, random metadata."""
    base = [bytes([b]) for b in range(256)]
    contents = list(base)
    merges = []
    for _ in range(draw(st.integers(0, 30))):
        left, right = draw(st.sampled_from(contents)), draw(st.sampled_from(contents))
        merges.append((left, right))
        if left + right not in contents:
            contents.append(left + right)
    specials = draw(st.lists(st.text(min_size=1, max_size=8), max_size=3, unique=True))
    metadata = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(), st.none()), max_size=3))
    return Vocabulary.from_merges(base, merges, specials=specials, metadata=metadata)


@given(vocabularies())
def test_random_vocabularies_round_trip(v):
    text = native.dumps(v)
    again = native.loads(text)
    assert fields(again) == fields(v)
    assert native.dumps(again) == text


def test_unknown_version_is_refused_with_the_versions_supported(tmp_path):
    data = json.loads(native.dumps(BUILDERS["tiktoken"]()))
    data["version"] = 7
    path = tmp_path / "lexkit.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FormatError, match=r"lexkit.json version 7 is not supported \(this lexkit reads 1\)"):
        native.load(path)


@pytest.mark.parametrize(("text", "message"), [
    (lambda full: full[: len(full) // 2], r"line \d+ column \d+: invalid JSON"),
    (lambda full: '{"format": "other"}', "not a lexkit vocabulary"),
    (lambda full: full.replace('"content": "YQ=="', '"content": "Y!=="'), "inconsistent lexkit vocabulary"),
    (lambda full: full.replace('[97, 98]', '[97, 9999]'), "inconsistent lexkit vocabulary.*9999"),
])
def test_corrupt_files_raise_format_error_with_the_path(tmp_path, text, message):
    path = tmp_path / "lexkit.json"
    path.write_text(text(native.dumps(BUILDERS["tiktoken"]())), encoding="utf-8")
    with pytest.raises(FormatError, match=f"{path}.*{message}"):
        native.load(path)
    with pytest.raises(FormatError, match="no such file"):
        native.load(tmp_path / "missing.json")


def test_failed_save_leaves_the_previous_file(tmp_path):
    v = BUILDERS["tiktoken"]()
    path = native.save(v, tmp_path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        native.save(v.replace(metadata={"bad": object()}), tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lexkit.json"]
