"""Gold segmentations from hunspell affix rules, and MorphScore on BPE and WordPiece-form tokenizers."""

from __future__ import annotations

import pytest
from _resources import hunspell_en_path

from lexkit import Tokenizer
from lexkit.analysis.metrics import morph_boundary_f1, morph_score
from lexkit.analysis.morph_gold import affix_segmentations, corpus_word_counts, write_gold
from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
from lexkit.errors import CorpusError, FormatError
from lexkit.formats.hunspell import read_aff
from lexkit.vocabulary import Token, TokenKind, Vocabulary

AFF = """SET UTF-8
PFX U Y 1
PFX U   0     un         .

SFX G Y 2
SFX G   e     ing        e
SFX G   0     ing        [^e]

SFX D Y 2
SFX D   0     d          e
SFX D   0     ed         [^ey]

SFX M Y 1
SFX M   0     's         .

SFX S Y 1
SFX S   0     s          .
"""
DIC = "6\nwalk/GDMS\nbake/GD\ndo/G\nkind/U\nwalks/S\nWalker/S\n"


def test_only_boundary_preserving_single_affixes_are_used(tmp_path):
    (tmp_path / "x.aff").write_text(AFF)
    (tmp_path / "x.dic").write_text(DIC)
    rules = read_aff(tmp_path / "x.aff").rules
    assert [r.add for r in rules["G"]] == ["ing", "ing"] and rules["G"][0].strip == "e"
    segmentations = affix_segmentations(tmp_path / "x.dic", tmp_path / "x.aff")
    # bake+ing strips "e"; bake+d has an "e"-only condition; do is a 2-letter stem; "'s" is left out;
    # capitalised stems are skipped; "walks" comes from walk+s and from the listed stem "walks" + nothing.
    assert segmentations == {"walked": ("walk", "ed"), "walking": ("walk", "ing"), "walks": ("walk", "s"),
                             "walkss": ("walks", "s"), "unkind": ("un", "kind")}
    counts = corpus_word_counts(["Unkind walking, walking and walked.\n"])
    assert counts == {"walking": 2, "walked": 1, "and": 1}  # capitalised "Unkind" is not counted
    assert affix_segmentations(tmp_path / "x.dic", tmp_path / "x.aff", word_counts=counts, min_count=2) == {
        "walking": ("walk", "ing")}
    path = write_gold(segmentations, tmp_path / "gold.tsv")
    assert "walking\twalk ing\n" in path.read_text()
    (tmp_path / "bad.aff").write_text("SFX G Y 1\nSFX G 0 ing\n")
    with pytest.raises(FormatError, match="line 2: affix rule 'SFX G 0 ing' has fewer than 5 fields"):
        read_aff(tmp_path / "bad.aff")


def test_real_en_us_dictionary_gives_thousands_of_segmentations():
    segmentations = affix_segmentations(hunspell_en_path("en_US.dic"), hunspell_en_path("en_US.aff"))
    assert len(segmentations) > 30_000
    assert segmentations["walking"] == ("walk", "ing") and segmentations["unhappy"] == ("un", "happy")
    assert "baked" not in segmentations  # bake + d: boundary by convention only


def _wordpiece(tokens: list[bytes]) -> Tokenizer:
    specials = [Token(0, b"[UNK]", TokenKind.UNKNOWN)]
    vocabulary = Vocabulary(
        tokens=tuple(specials + [Token(i + 1, t) for i, t in enumerate(tokens)]), model="wordpiece",
        model_options={"unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100},
        pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder(),
    )
    return Tokenizer(vocabulary)


def test_morph_score_strips_the_continuation_prefix(tmp_path):
    pieces = [bytes([b]) for b in range(256)] + [b"##" + bytes([b]) for b in range(256)]
    tokenizer = _wordpiece([*pieces, b" walk", b"##ing", b" wal", b"##king", b" talking"])
    gold = {"walking": ["walk", "ing"], "talking": ["talk", "ing"], "walked": ["walk", "ed"]}
    # walk|ing aligned; talking is one token (left out); walk|e|d has the boundary after "walk"
    assert morph_score(tokenizer, gold) == {"score": 1.0, "words": 2, "single_token_words": 1}
    path = tmp_path / "gold.tsv"
    path.write_text("walking\twalk ing\nwalked\twalk ed\n")
    assert morph_boundary_f1(tokenizer, path)["fp"] == 1  # the boundary inside "ed"
    with pytest.raises(CorpusError, match="do not spell the word 'walks'"):
        morph_score(tokenizer, {"walks": ["walk", "es"]})
