"""HF tokenizer.json: exact text round trips of real and trained files, id parity, lossy and corrupt input."""

from __future__ import annotations

import json
import logging

import _resources
import pytest
from hypothesis import given
from strategies import varied_text
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from lexkit import FormatError, LossyConversionError, Token, Tokenizer, TokenKind
from lexkit.embedded import default_corpus
from lexkit.formats.hf import dumps, from_hf, save_hf, to_hf

SPECIALS = ["<|endoftext|>", "<pad>"]


def _byte_level_bpe() -> HFTokenizer:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.post_processor = processors.ByteLevel(trim_offsets=False)
    return hf


def _metaspace_bpe() -> HFTokenizer:
    hf = HFTokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    hf.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                    decoders.Strip(" ", 1, 0)])
    return hf


def _wordpiece() -> HFTokenizer:
    hf = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.decoder = decoders.WordPiece()
    return hf


def _unigram() -> HFTokenizer:
    hf = HFTokenizer(models.Unigram())
    hf.normalizer = normalizers.NFKC()
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Metaspace()
    return hf


BUILDERS = {
    "byte-level-bpe": (_byte_level_bpe, lambda: trainers.BpeTrainer(
        vocab_size=800, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)),
    "metaspace-bpe-byte-fallback": (_metaspace_bpe, lambda: trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)),
    "wordpiece": (_wordpiece, lambda: trainers.WordPieceTrainer(
        vocab_size=800, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False)),
    "unigram": (_unigram, lambda: trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False)),
}


@pytest.fixture(scope="module")
def trained() -> dict[str, HFTokenizer]:
    corpus = default_corpus("prose")[:300]
    out = {}
    for name, (build, trainer) in BUILDERS.items():
        hf = build()
        hf.train_from_iterator(corpus[:100] if name == "unigram" else corpus, trainer())
        out[name] = hf
    bert = out["wordpiece"]
    bert.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", bert.token_to_id("[CLS]")), ("[SEP]", bert.token_to_id("[SEP]"))])
    return out


@pytest.fixture(scope="module")
def toks(trained) -> dict[str, Tokenizer]:
    """lexkit tokenizers read from the trained files."""
    return {name: Tokenizer(from_hf(hf.to_str())) for name, hf in trained.items()}


# ----------------------------------------------------------------------------------------------------------------
# exact round trips
@pytest.mark.parametrize("locate", [_resources.gpt2_tokenizer_json, _resources.llama3_tokenizer_json,
                                    lambda: _resources.minilm_dir() / "tokenizer.json"],
                         ids=["gpt2", "llama3", "minilm"])
def test_real_files_round_trip_exactly(locate):
    text = HFTokenizer.from_file(str(locate())).to_str(pretty=True)
    assert dumps(to_hf(from_hf(text))) == text


@pytest.mark.parametrize("name", list(BUILDERS))
def test_trained_files_round_trip_exactly(trained, name):
    text = trained[name].to_str(pretty=True)
    assert dumps(to_hf(from_hf(text))) == text
    compact = trained[name].to_str()
    assert dumps(to_hf(from_hf(compact)), pretty=False) == compact


def test_legacy_string_merges_are_read_and_written_back(trained):
    data = json.loads(trained["byte-level-bpe"].to_str())
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    text = json.dumps(data, ensure_ascii=False, indent=2)
    v = from_hf(text)
    assert v.merges == from_hf(trained["byte-level-bpe"].to_str()).merges
    assert dumps(to_hf(v)) == text


def test_saved_file_loads_in_tokenizers(trained, tmp_path):
    v = from_hf(trained["metaspace-bpe-byte-fallback"].to_str())
    path = save_hf(v, tmp_path / "tokenizer.json")
    assert HFTokenizer.from_file(str(path)).encode("héllo wörld 😀").ids == trained[
        "metaspace-bpe-byte-fallback"].encode("héllo wörld 😀").ids


# ----------------------------------------------------------------------------------------------------------------
# encoding parity
@pytest.mark.parametrize("name", list(BUILDERS))
@given(text=varied_text)
def test_ids_match_tokenizers(trained, toks, name, text):
    hf, tok = trained[name], toks[name]
    assert tok.encode(text, disallowed_special=()) == hf.encode(text, add_special_tokens=False).ids
    if name == "wordpiece":
        assert tok.encode(text, disallowed_special=(), add_special_tokens=True) == hf.encode(text).ids


@given(text=varied_text)
def test_byte_level_decode_round_trips(toks, text):
    tok = toks["byte-level-bpe"]
    assert tok.decode_bytes(tok.encode(text, disallowed_special=())) == text.encode("utf-8")


def test_kinds_read_from_added_tokens_and_options(trained):
    v = from_hf(trained["metaspace-bpe-byte-fallback"].to_str())
    assert v.tokens[0].kind == TokenKind.SPECIAL and v.tokens[0].content == b"<unk>"
    assert sum(t.kind == TokenKind.BYTE for t in v.tokens) == 0  # the trainer adds no <0xNN> pieces itself
    assert v.model_options["byte_fallback"] is True


# ----------------------------------------------------------------------------------------------------------------
# lossy and corrupt input
def test_scaffold_flags_are_a_lossy_export(trained, caplog):
    v = from_hf(trained["byte-level-bpe"].to_str())
    result = v.merge_result(v.merges[-1])
    tokens = list(v.tokens)
    tokens[result] = Token(result, tokens[result].content, scaffold=True)
    scaffolded = v.replace(tokens=tuple(tokens))
    with pytest.raises(LossyConversionError, match=r"1 scaffold flags.*allow_lossy=True"):
        to_hf(scaffolded)
    data = to_hf(scaffolded, allow_lossy=True)
    assert data["model"]["vocab"] == to_hf(v)["model"]["vocab"]


@pytest.mark.parametrize(("text", "message"), [
    ('{"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0', r"line 1 column \d+: invalid JSON"),
    ('{"version": "1.0"}', "no 'model' object"),
    ('{"model": {"type": "WordLevel", "vocab": {}}}', "model type 'WordLevel' is not supported"),
    ('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "c"]]}}', "uses 'c'"),
    ('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}', "id 0 is used by both"),
])
def test_corrupt_files_raise_format_error_with_the_path(tmp_path, text, message):
    path = tmp_path / "tokenizer.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=f"{path}.*{message}"):
        from_hf(path)


def test_truncated_real_file(tmp_path, caplog):
    text = HFTokenizer.from_file(str(_resources.gpt2_tokenizer_json())).to_str(pretty=True)
    path = tmp_path / "tokenizer.json"
    path.write_text(text[: len(text) // 3], encoding="utf-8")
    with caplog.at_level(logging.WARNING), pytest.raises(FormatError, match=f"{path}: line \\d+ column"):
        from_hf(path)
    with pytest.raises(FormatError, match="no such file"):
        from_hf(tmp_path / "missing" / "tokenizer.json")


def test_bulk_byte_level_surfaces_equal_one_by_one():
    """`encode_surfaces` (one gather, what `to_hf` uses) spells every GPT-2 token, every byte and odd contents as
    `encode_surface` does, and `to_hf` of the real file gives back its surfaces."""
    from lexkit.formats.surface import encode_surface, encode_surfaces

    vocabulary = from_hf(_resources.gpt2_tokenizer_json())
    contents = [t.content for t in vocabulary.tokens] + [bytes([b]) for b in range(256)]
    contents += [b"", bytes(range(256)), b"\xff\x00 \n" * 50]
    assert encode_surfaces(contents) == [encode_surface(c) for c in contents]
    assert encode_surfaces([]) == []
    model = json.loads(_resources.gpt2_tokenizer_json().read_text(encoding="utf-8"))["model"]
    assert to_hf(vocabulary)["model"]["vocab"] == model["vocab"]

