"""Anchor matching across tokenizer families: canonical bytes (Ġ, ▁, <0xNN>, ##) and special roles."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as Backend
from transformers import PreTrainedTokenizerFast

from lexkit import FormatError, LexkitError, Tokenizer
from lexkit.formats.hf import from_hf
from lexkit.transfer import canonical_key, match_anchors
from lexkit.transfer.tokenizer import TransferTokenizer

BPE_OPTIONS = {"dropout": None, "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
               "ignore_merges": False, "merges": []}


def tokenizer_json(model: dict, *, specials=(), pre_tokenizer=None, decoder=None) -> dict:
    vocab = model["vocab"]
    added = [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in specials]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": pre_tokenizer, "post_processor": None, "decoder": decoder, "model": model}


def bpe_model(surfaces, merges, **options) -> dict:
    return {"type": "BPE", **options, **BPE_OPTIONS, "vocab": {s: i for i, s in enumerate(surfaces)},
            "merges": [list(m) for m in merges]}


def byte_level(surfaces, specials=(), merges=()):
    level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    model = bpe_model(surfaces, merges, unk_token=None, byte_fallback=False)
    return tokenizer_json(model, specials=specials, pre_tokenizer=level, decoder=level)


def metaspace(surfaces, specials=("<unk>", "<s>", "</s>"), merges=()):
    space = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    model = bpe_model(surfaces, merges, unk_token="<unk>", byte_fallback=True)
    return tokenizer_json(model, specials=specials, pre_tokenizer=space, decoder=space)


def chain(word: str) -> list[tuple[str, str]]:
    """Merges that build ``word`` left to right from its characters."""
    return [(word[:i], word[i]) for i in range(1, len(word))]


def wordpiece(surfaces):
    model = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
             "max_input_chars_per_word": 100, "vocab": {s: i for i, s in enumerate(surfaces)}}
    return tokenizer_json(model, specials=("[UNK]", "[PAD]"), pre_tokenizer={"type": "Whitespace"},
                          decoder={"type": "WordPiece", "prefix": "##", "cleanup": True})


def side(data: dict) -> TransferTokenizer:
    return TransferTokenizer.from_any(from_hf(data))


# ĠÃ©Ċ: GPT-2 byte-level surfaces of b" ", b"\xc3\xa9" ("é") and b"\n"; "Ã" alone is the byte 0xC3.
GPT2_LIKE = byte_level(
    ["<|endoftext|>", "a", "Ã", "Ċ", "Ġhello", "Ã©", "ing", "Ġwor",
     "Ġ", "h", "e", "l", "o", "©", "i", "n", "g", "w", "r", "Ġh", "Ġhe", "Ġhel", "Ġhell", "in", "Ġw", "Ġwo"],
    specials=["<|endoftext|>"], merges=[*chain("Ġhello"), ("Ã", "©"), *chain("ing"), *chain("Ġwor")])


def test_byte_level_and_sentencepiece_forms_match_by_bytes_and_specials_by_role():
    source = side(GPT2_LIKE)
    target = side(metaspace(["<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "▁hello", "é", "a", "<0x61>", "▁new"]))
    match = match_anchors(source, target, source_rows=len(source))
    expected = {
        3: (3, "exact"),  # <0x0A>  <-> Ċ
        4: (2, "exact"),  # <0xC3>  <-> Ã: a partial UTF-8 sequence still matches by raw bytes
        5: (4, "exact"),  # ▁hello  <-> Ġhello
        6: (5, "exact"),  # é       <-> Ã©
        7: (1, "exact"),  # a       <-> a
        8: (1, "exact"),  # <0x61>  <-> a (byte piece and normal token share the key)
        0: (0, "role"), 1: (0, "role"), 2: (0, "role"),  # unk/bos/eos <-> <|endoftext|> (GPT-2's roles)
    }
    assert {t: (match.pairs[t], match.kinds[t]) for t in match.pairs} == expected
    assert 9 not in match.pairs  # ▁new is new
    assert match.counts() == {"exact": 6, "role": 3, "total": 9}


def test_canonical_keys_of_each_family():
    target = from_hf(metaspace(["<unk>", "<s>", "</s>", "<0x0A>", "▁hello"]))
    assert canonical_key(target, target.tokens[3]) == ("normal", b"\n")
    assert canonical_key(target, target.tokens[4]) == ("normal", b" hello")
    assert canonical_key(target, target.tokens[1]) == ("special", b"<s>")
    pieces = from_hf(wordpiece(["[UNK]", "[PAD]", "hello", "##ing"]))
    assert canonical_key(pieces, pieces.tokens[2]) == ("normal", b" hello")
    assert canonical_key(pieces, pieces.tokens[3]) == ("normal", b"ing")


def test_wordpiece_pieces_match_byte_level_tokens():
    source = side(GPT2_LIKE)
    target = side(wordpiece(["[UNK]", "[PAD]", "hello", "##ing", "##wor", "wor"]))
    match = match_anchors(source, target, source_rows=len(source))
    assert match.pairs == {0: 0, 2: 4, 3: 6, 5: 7}  # [UNK] by role; hello; ##ing; wor (word start " wor")
    assert 1 not in match.pairs and 4 not in match.pairs  # [PAD]: the source has no pad role; "wor" mid-word


def test_every_additional_special_token_keeps_its_own_key():
    source = side(byte_level(["a", "<|b|>"], specials=["<|b|>"]))
    target = side(byte_level(["a", "<|a|>", "<|b|>", "<|c|>"], specials=["<|a|>", "<|b|>", "<|c|>"]))
    match = match_anchors(source, target, source_rows=len(source))
    assert match.pairs == {0: 0, 2: 1} and match.kinds[2] == "exact"


def test_roles_come_from_transformers_tokenizers():
    source_backend = Backend.from_str(json.dumps(byte_level(["a", "<|stop|>", "<|go|>"],
                                                            specials=["<|stop|>", "<|go|>"])))
    source = TransferTokenizer.from_any(PreTrainedTokenizerFast(tokenizer_object=source_backend, eos_token="<|stop|>",
                                                            bos_token="<|go|>"))
    assert source.roles == {"eos": 1, "bos": 2}
    target = side(metaspace(["<unk>", "<s>", "</s>", "a"]))
    match = match_anchors(source, target, source_rows=len(source))
    assert match.pairs == {1: 2, 2: 1, 3: 0} and match.kinds[1] == match.kinds[2] == "role"


def test_normal_token_wins_over_byte_piece_and_rows_limit_the_source():
    source = side(metaspace(["<unk>", "<s>", "</s>", "<0x61>", "a", "▁b"]))
    target = side(byte_level(["a", "Ġb"]))
    assert match_anchors(source, target, source_rows=6).pairs == {0: 4, 1: 5}
    assert match_anchors(source, target, source_rows=5).pairs == {0: 4}  # id 5 has no row


def test_no_shared_token_is_a_one_line_error():
    with pytest.raises(LexkitError, match="no anchors") as info:
        match_anchors(side(byte_level(["x", "y"])), side(byte_level(["a", "b"])), source_rows=2)
    assert "\n" not in str(info.value)


def test_tokenizer_side_accepts_every_form(tmp_path, source_tokenizer):
    folder = source_tokenizer.save(tmp_path / "lexkit")
    forms = [source_tokenizer, source_tokenizer.vocabulary, folder, folder / "tokenizer.json",
             Backend.from_file(str(folder / "tokenizer.json")),
             PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))]
    contents = [t.content for t in source_tokenizer.vocabulary.tokens]
    for form in forms:
        view = TransferTokenizer.from_any(form)
        assert [t.content for t in view.vocabulary.tokens] == contents
        assert view.roles["eos"] == 0 and view.hf.eos_token == "<|endoftext|>"
    with pytest.raises(FormatError, match="no such file"):
        TransferTokenizer.from_any(tmp_path / "missing.json", what="target tokenizer")
    with pytest.raises(LexkitError, match="unsupported type int"):
        TransferTokenizer.from_any(42)
    other = Tokenizer(source_tokenizer.vocabulary)
    other.encoder_name = "long-first"  # stands for any non-default encoder (LBPE, scaffold...)
    with pytest.raises(LexkitError, match="uses the 'long-first' encoder"):
        TransferTokenizer.from_any(other, what="target tokenizer")


def test_decompose_uses_the_model_alone_and_covers_partial_utf8():
    byte_side = side(GPT2_LIKE)
    assert byte_side.decompose(b" hello") == [4]
    assert byte_side.decompose("aé".encode()) == [1, 5]
    pieces = side(metaspace(["<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "▁hello", "a",
                             "▁", "h", "e", "l", "o", "▁h", "▁he", "▁hel", "▁hell"], merges=chain("▁hello")))
    assert pieces.decompose(b" hello") == [5]  # no extra dummy-prefix piece
    assert pieces.decompose(b"\xc3") == [3]  # a stray byte goes to its byte piece
    assert pieces.decompose("é".encode()) == [3, 4]  # byte fallback inside the model
    assert side(wordpiece(["[UNK]", "[PAD]", "hello", "##ing"])).decompose(b" helloing") == [2, 3]
    assert side(wordpiece(["[UNK]", "[PAD]", "hello"])).decompose(b"zzz") == []  # only [UNK]: dropped


def test_lexkit_tokenizers_get_roles_from_conventional_names(source_tokenizer, target_tokenizer):
    assert TransferTokenizer.from_any(source_tokenizer).roles == {"bos": 0, "eos": 0, "unk": 0}
    assert TransferTokenizer.from_any(target_tokenizer).roles == {"bos": 0, "eos": 0, "unk": 0, "pad": 1}
