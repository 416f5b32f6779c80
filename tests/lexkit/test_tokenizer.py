"""Tokenizer behaviour: special-token rules, decoding, saving and loading, encoder selection."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from lexkit import EncodingError, FormatError, LexkitError, Tokenizer
from lexkit.embedded import default_corpus
from lexkit.formats.hf import from_hf


@pytest.fixture(scope="module")
def hf_bpe() -> HFTokenizer:
    """A byte-level BPE trained by HF on the embedded prose, with two overlapping specials."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|end|>", "<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    hf.train_from_iterator(default_corpus("prose"), trainer)
    return hf


@pytest.fixture(scope="module")
def tok(hf_bpe: HFTokenizer) -> Tokenizer:
    return Tokenizer(from_hf(hf_bpe.to_str()))


def test_ids_match_hf_and_decode_round_trips(tok, hf_bpe):
    text = "The quick brown fox — naïve café 😀 日本語\n\tdef f(x): return x**2  "
    assert tok.encode(text) == hf_bpe.encode(text).ids
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode_batch([text, "", "a"]) == [hf_bpe.encode(t).ids for t in [text, "", "a"]]


def test_special_tokens_raise_by_default_with_the_fix_in_the_message(tok):
    with pytest.raises(EncodingError, match="allowed_special"):
        tok.encode("a <|endoftext|> b")
    with pytest.raises(EncodingError):
        tok.encode_batch(["fine", "a <|end|>"])


def test_batch_scan_finds_a_special_in_any_text_and_passes_lookalikes(tok, hf_bpe):
    texts = ["wide 😀 text", "plain", "almost <|end but not <| |>", "x"]
    ids, offsets = tok.encode_batch_flat(texts)
    assert [ids[a:b].tolist() for a, b in zip(offsets, offsets[1:])] == [hf_bpe.encode(t).ids for t in texts]
    for encode in (tok.encode_batch, tok.encode_batch_flat):
        with pytest.raises(EncodingError, match="at character 5"):
            encode([*texts, "tail <|end|>"])
    ordinary = tok.encode_batch([*texts, "tail <|end|>"], disallowed_special=())
    assert tok.decode(ordinary[-1]) == "tail <|end|>"


def test_allowed_specials_and_longest_match(tok):
    specials = tok.vocabulary.special_tokens
    ids = tok.encode("x<|endoftext|>y", allowed_special="all")
    assert specials["<|endoftext|>"] in ids and specials["<|end|>"] not in ids
    ordinary = tok.encode("x<|endoftext|>y", disallowed_special=())
    assert all(i not in specials.values() for i in ordinary)
    assert tok.decode(ordinary) == "x<|endoftext|>y"
    with pytest.raises(EncodingError, match="not special tokens"):
        tok.encode("x", allowed_special={"<nope>"})


def test_decode_skips_specials_on_request(tok):
    ids = tok.encode("a<|end|>b", allowed_special="all")
    assert tok.decode(ids) == "a<|end|>b"
    assert tok.decode(ids, skip_special_tokens=True) == "ab"
    with pytest.raises(LexkitError, match="outside the vocabulary"):
        tok.decode([10**9])


def test_decode_of_a_cut_character_uses_replacement(tok, hf_bpe):
    text = "\U0001f9ec"  # a 4-byte character absent from the training prose, so BPE keeps its bytes apart
    ids = tok.encode(text)
    assert len(ids) > 1 and tok.decode_bytes(ids) == text.encode()
    # HF's Rust ByteLevel decoder (from_utf8_lossy) is the reference for every cut, including the whole string
    for stop in range(1, len(ids) + 1):
        assert tok.decode(ids[:stop]) == hf_bpe.decode(ids[:stop])
    assert "\ufffd" in tok.decode(ids[:1])


def test_save_and_load_round_trip(tok, tmp_path):
    out = tok.save(tmp_path / "tok")
    assert sorted(p.name for p in out.iterdir()) == ["lexkit.json", "tokenizer.json"]
    again = Tokenizer.load(out)
    assert again.encode("hello world") == tok.encode("hello world")
    assert Tokenizer.load(out / "tokenizer.json").encode("hello world") == tok.encode("hello world")
    assert (out / "lexkit.json").read_bytes() == (tok.save(tmp_path / "tok2") / "lexkit.json").read_bytes()
    HFTokenizer.from_file(str(out / "tokenizer.json"))  # loads in HF as is


def test_failed_save_leaves_no_output(tok, tmp_path, monkeypatch):
    import lexkit.formats.hf as hf

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hf, "dumps", broken)
    with pytest.raises(OSError):
        tok.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_file(tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0')
    with pytest.raises(FormatError, match=r"tokenizer.json: line 1 column \d+: invalid JSON"):
        Tokenizer.load(broken)
    with pytest.raises(FormatError, match="no such file"):
        Tokenizer.load(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no lexkit.json"):
        Tokenizer.load(tmp_path / "empty")
    bad_merge = {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}}
    with pytest.raises(FormatError, match="'b', which is not in the vocabulary"):
        from_hf(json.dumps(bad_merge))


def test_unknown_encoder_lists_the_registered_ones(tok):
    with pytest.raises(LexkitError, match="registered encoders: bpe"):
        Tokenizer(tok.vocabulary, encoder="nope")
    with pytest.raises(LexkitError, match="works on unigram"):
        Tokenizer(tok.vocabulary, encoder="unigram")


def test_post_processor_runs_with_allowed_specials(tok):
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [0], "tokens": ["<|end|>"]}}}
    bos = Tokenizer(tok.vocabulary.replace(post_processor=template))
    plain = bos.encode("hi <|endoftext|>", allowed_special="all")
    assert bos.encode("hi <|endoftext|>", allowed_special="all", add_special_tokens=True) == [0, *plain]
    assert bos.encode("hi", add_special_tokens=True) == [0, *bos.encode("hi")]


def test_load_reads_a_versioned_sentencepiece_model(tmp_path):
    """Mistral publishes its sentencepiece model as ``tokenizer.model.v1``: `Tokenizer.load` reads that suffix."""
    import shutil

    import _resources
    import sentencepiece as spm

    path = tmp_path / "tokenizer.model.v1"
    shutil.copy(_resources.mistral_sp_model(), path)
    tok = Tokenizer.load(path)
    assert len(tok.vocabulary) == 32_000
    with open(_resources.corpus_path("corpus_10M.txt"), encoding="utf-8") as handle:
        lines = handle.read(200_000).splitlines()
    processor = spm.SentencePieceProcessor(model_file=str(path))
    assert tok.encode_batch(lines, disallowed_special=()) == processor.encode(lines)
