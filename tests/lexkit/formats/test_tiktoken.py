"""tiktoken ranks: reading (merge derivation, regex translation), writing, round trips, lossy and corrupt input."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import regex
import tiktoken
from hypothesis import given
from hypothesis import strategies as st
from strategies import PIECES, varied_text
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from lexkit import (
    FormatError,
    LossyConversionError,
    Token,
    Tokenizer,
    TokenKind,
    UnsupportedAlphabetError,
    Vocabulary,
)
from lexkit.components import GPT2_PATTERN
from lexkit.embedded import default_corpus
from lexkit.formats.hf import dumps, from_hf, to_hf
from lexkit.formats.tiktoken import (
    from_tiktoken,
    merges_from_ranks,
    to_onig_regex,
    to_tiktoken,
    to_tiktoken_encoding,
)
from lexkit.vocabulary import Alphabet

# tiktoken's own spellings (possessive quantifiers, ``$``), as in tiktoken_ext.openai_public.
R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
FIELDS = ("tokens", "merges", "alphabet", "model", "model_options", "normalizer", "pre_tokenizer",
          "post_processor", "decoder", "metadata")
BYTES = {bytes([b]): b for b in range(256)}


def fields(vocabulary: Vocabulary, *, ignore: tuple[str, ...] = ()) -> dict[str, object]:
    """The vocabulary's data as a comparable dict (Vocabulary itself compares by identity)."""
    return {name: getattr(vocabulary, name) for name in FIELDS if name not in ignore}


@pytest.fixture(scope="module")
def hf_trained() -> HFTokenizer:
    """A byte-level BPE trained by HF with the cl100k regex and one special token after the ranks."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(to_onig_regex(CL100K_PATTERN)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(default_corpus("prose")[:400], trainer)
    return hf


@pytest.fixture(scope="module")
def encoding(hf_trained: HFTokenizer) -> tiktoken.Encoding:
    """The trained ranks as a tiktoken Encoding with the cl100k regex and a special token."""
    ranks, _, _ = to_tiktoken(from_hf(hf_trained.to_str()))
    return tiktoken.Encoding("small", pat_str=CL100K_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": len(ranks)})


@pytest.fixture(scope="module")
def tok(encoding: tiktoken.Encoding) -> Tokenizer:
    return Tokenizer(from_tiktoken(encoding))


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [line for doc in default_corpus("mixed")[::7] for line in doc.splitlines()][:4000]


# ----------------------------------------------------------------------------------------------------------------
# reading
def test_sources_give_the_same_vocabulary(encoding, tmp_path):
    path = tmp_path / "small.tiktoken"
    ranks, _, specials = to_tiktoken(from_tiktoken(encoding), path)
    from_encoding = from_tiktoken(encoding)
    from_path = from_tiktoken(path, pattern=CL100K_PATTERN, special_tokens=specials)
    from_dict = from_tiktoken(ranks, pattern=CL100K_PATTERN, special_tokens=specials, name="small")
    assert fields(from_path) == fields(from_encoding) == fields(from_dict)
    assert from_encoding.metadata["tiktoken"] == {"name": "small", "pattern": CL100K_PATTERN}
    assert from_encoding.tokens[len(ranks)].kind == TokenKind.SPECIAL


def test_ids_match_tiktoken_on_corpus_lines(tok, encoding, lines):
    assert tok.encode_batch(lines, disallowed_special=()) == encoding.encode_ordinary_batch(lines)


@given(varied_text)
def test_ids_match_tiktoken_and_decode_round_trips(tok, encoding, text):
    ids = tok.encode(text, disallowed_special=())
    assert ids == encoding.encode_ordinary(text)
    assert tok.decode_bytes(ids) == text.encode("utf-8")


@given(st.binary(max_size=40))
def test_every_byte_is_reachable_and_decodes_exactly(tok, data):
    """Byte-level vocabularies hold all 256 bytes: valid UTF-8 from arbitrary bytes decodes back exactly."""
    text = data.decode("utf-8", errors="replace")
    assert tok.decode_bytes(tok.encode(text, disallowed_special=())) == text.encode("utf-8")
    assert all(tok.token_to_bytes(tok.vocabulary.id_of(bytes([b]))) == bytes([b]) for b in data)


def test_merges_are_every_split_ordered_by_result_rank():
    ranks = {**BYTES, b"ab": 256, b"bc": 257, b"abc": 258, b"cab": 259}
    a, b, c = ord("a"), ord("b"), ord("c")
    assert merges_from_ranks(ranks) == ((a, b), (b, c), (a, 257), (256, c), (c, 256))


def test_overlapping_splits_are_reported(caplog):
    ranks = {**BYTES, b"er": 256, b"re": 257, b"ere": 258}
    with caplog.at_level(logging.INFO, logger="lexkit.formats.tiktoken"):
        merges_from_ranks(ranks)
    assert "1 tokens (e.g. b'ere')" in caplog.text


def test_specials_and_holes(caplog):
    v = from_tiktoken({**BYTES, b"ab": 256}, special_tokens={"<|a|>": 260, "<|b|>": 258})
    kinds = [t.kind for t in v.tokens[256:]]
    assert kinds == [TokenKind.NORMAL, TokenKind.UNUSED, TokenKind.SPECIAL, TokenKind.UNUSED, TokenKind.SPECIAL]
    assert v.special_tokens == {"<|b|>": 258, "<|a|>": 260}


def test_to_hf_is_what_transformers_tiktoken_converter_writes(encoding, tmp_path):
    from transformers.convert_slow_tokenizer import TikTokenConverter

    path = tmp_path / "small.tiktoken"
    ranks, pattern, specials = to_tiktoken(from_tiktoken(encoding), path)
    ours = dumps(to_hf(from_tiktoken(path, pattern=pattern, special_tokens=specials)))
    theirs = TikTokenConverter(str(path), pattern=to_onig_regex(pattern),
                               extra_special_tokens=specials).converted().to_str(pretty=True)
    assert ours == theirs


# ----------------------------------------------------------------------------------------------------------------
# the regex in HF's engine
@pytest.mark.parametrize("pattern", [R50K_PATTERN, CL100K_PATTERN, GPT2_PATTERN])
@given(text=st.lists(st.sampled_from([*PIECES, "0", "12345", "a", "B", "'S", "   ", "\r\n\n", "x "]),
                     max_size=14).map("".join))
def test_translated_regex_splits_like_tiktoken(pattern, text):
    split = pre_tokenizers.Split(Regex(to_onig_regex(pattern)), behavior="isolated")
    assert [piece for piece, _ in split.pre_tokenize_str(text)] == regex.findall(pattern, text)


@pytest.mark.parametrize(("pattern", "expected"), [
    (r"\p{N}{1,3}+", r"(?>\p{N}{1,3})"),
    (r"[a{]{2}+x", r"(?>[a{]{2})x"),
    (r"(?:ab){2,}+|^c$", r"(?>(?:ab){2,})|\Ac\z"),
    (r"(?i)[$^]x{1,2}", r"(?i)[$^]x{1,2}"),
    (r"a{,2}+", r"a{,2}+"),
])
def test_regex_translation_cases(pattern, expected):
    assert to_onig_regex(pattern) == expected


# ----------------------------------------------------------------------------------------------------------------
# writing and round trips
def test_round_trip_through_a_file(encoding, tmp_path):
    v = from_tiktoken(encoding, name="small")
    path = tmp_path / "small.tiktoken"
    ranks, pattern, specials = to_tiktoken(v, path)
    assert (ranks, pattern, specials) == (encoding._mergeable_ranks, CL100K_PATTERN, {"<|endoftext|>": len(ranks)})
    assert fields(from_tiktoken(path, pattern=pattern, special_tokens=specials)) == fields(v)
    first = path.read_bytes()
    to_tiktoken(v, path)
    assert path.read_bytes() == first
    assert first.splitlines()[ranks[b"a"]] == base64.b64encode(b"a") + b" %d" % ranks[b"a"]


def test_encoding_export_matches(encoding, tok, lines):
    exported = to_tiktoken_encoding(tok.vocabulary)
    assert exported.encode_ordinary_batch(lines[:500]) == encoding.encode_ordinary_batch(lines[:500])
    assert exported._special_tokens == encoding._special_tokens


def test_hf_vocabulary_exports_with_the_same_ids(hf_trained, lines):
    """A merge-list vocabulary whose merge order follows its ids keeps its ids under rank semantics."""
    v = from_hf(hf_trained.to_str())
    again = Tokenizer(from_tiktoken(to_tiktoken_encoding(v)))
    assert again.encode_batch(lines) == Tokenizer(v).encode_batch(lines)


@given(st.text(alphabet="ab theréü😀日", max_size=30))
def test_rank_and_merge_list_semantics_agree(hf_trained, tok, text):
    assert tok.encode(text) == hf_trained.encode(text).ids


def _scaffolded(v: Vocabulary) -> Vocabulary:
    result = v.merge_result(v.merges[-1])
    tokens = list(v.tokens)
    tokens[result] = Token(result, tokens[result].content, scaffold=True)
    return v.replace(tokens=tuple(tokens))


@pytest.mark.parametrize(("change", "named"), [
    (_scaffolded, "1 scaffold flags"),
    (lambda v: v.replace(merges=(v.merges[1], v.merges[0], *v.merges[2:])), "the merge order"),
    (lambda v: v.replace(normalizer={"type": "NFC"}), "the normalizer NFC"),
    (lambda v: v.replace(pre_tokenizer={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                                        "split": True}), "the pre-tokenizer Metaspace"),
    (lambda v: v.replace(model_options={**v.model_options, "dropout": 0.1}), "dropout=0.1"),
    (lambda v: v.replace(post_processor={"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [], "special_tokens": {}}), "the post-processor TemplateProcessing"),
])
def test_lossy_export_raises_unless_allowed(tok, change, named, caplog):
    v = change(tok.vocabulary)
    with pytest.raises(LossyConversionError, match="allow_lossy=True") as info:
        to_tiktoken(v)
    assert named in str(info.value)
    with caplog.at_level(logging.WARNING, logger="lexkit.formats.tiktoken"):
        ranks, _, _ = to_tiktoken(v, allow_lossy=True)
    assert named in caplog.text and len(ranks) == len(tok.vocabulary) - 1


def test_vocabularies_without_all_bytes_cannot_be_exported(tok):
    codebook = Vocabulary(tuple(Token(i, bytes([i])) for i in range(4)), alphabet=Alphabet.codebook(4))
    with pytest.raises(UnsupportedAlphabetError, match="codebook alphabet"):
        to_tiktoken(codebook)
    bare = Vocabulary.from_merges([b"a", b"b"], [(b"a", b"b")], specials=["<unk>"])
    with pytest.raises(UnsupportedAlphabetError, match="254 bytes have none"):
        to_tiktoken(bare, allow_lossy=True)


# ----------------------------------------------------------------------------------------------------------------
# corrupt input
def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("data", "message"), [
    (b"YQ== 0\nYg==", r"line 2 of .*bad\.tiktoken.*not '<base64 token> <rank>'"),
    (b"YQ== 0\nY!== 1\n", r"line 2 of .*bad\.tiktoken"),
    (b"YQ== zero\n", r"line 1 of .*bad\.tiktoken"),
    (b"YQ== 0\nYQ== 1\n", r"line 2 of .*bad\.tiktoken.*already has rank 0"),
    (b"\x00\xff\x13garbage bytes here\n", r"line 1 of .*bad\.tiktoken"),
    (b"", r"bad\.tiktoken: no ranks"),
])
def test_corrupt_files_name_path_and_line(tmp_path, data, message):
    with pytest.raises(FormatError, match=message):
        from_tiktoken(_write(tmp_path / "bad.tiktoken", data))


def test_truncated_real_export_is_refused(encoding, tmp_path):
    path = tmp_path / "cut.tiktoken"
    to_tiktoken(from_tiktoken(encoding), path)
    data = path.read_bytes()
    _write(path, data[: len(data) // 2 - 3])
    with pytest.raises(FormatError, match=str(path)):
        from_tiktoken(path)


def test_missing_file_and_colliding_special(tmp_path):
    with pytest.raises(FormatError, match="nothere.tiktoken: no such file"):
        from_tiktoken(tmp_path / "nothere.tiktoken")
    with pytest.raises(FormatError, match="special token '<s>' has id 97"):
        from_tiktoken(BYTES, special_tokens={"<s>": 97})
    with pytest.raises(FormatError, match="rank 3 is given to both"):
        from_tiktoken({b"a": 3, b"b": 3})
