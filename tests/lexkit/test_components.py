"""Differential tests: lexkit's Python normalizers and pre-tokenizers against HF ``tokenizers`` on the same JSON.

Generated text draws from characters that Python's ``unicodedata`` knows (Unicode 14 on 3.11): HF's Rust crates
and the ``regex`` module disagree on characters assigned later (see ``lexkit.components``' module docstring),
and on U+0295, whose category changed in Unicode 16.
"""

from __future__ import annotations

import functools
import json
import os
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PIECES
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, trainers

import lexkit.components._unicode as unicode_tables
from lexkit.components import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    build_normalizer,
    build_pipeline,
    build_pre_tokenizer,
    byte_level_decoder,
    byte_level_pre_tokenizer,
    digits_pre_tokenizer,
    lowercase_normalizer,
    metaspace_pre_tokenizer,
    nfkc_normalizer,
    sequence,
    whitespace_pre_tokenizer,
)
from lexkit.errors import FormatError, UnsupportedComponentError

MAX_EXAMPLES = int(os.environ.get("LEXKIT_MAX_EXAMPLES", 200))
examples = settings(deadline=None, max_examples=MAX_EXAMPLES)

EXTRA_PIECES = [
    "'S", "'LL", "'Ve", "ſ", "ΟΔΟΣ", "Σ ", "İ", "ﬁ", "Ⅻ", "½²", "١٢٣", "a\u0301\u0316", "\u0301x", "각", "가",
    "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u3000", "\u2028", "¿¡", "👍🏽", "1\ufe0f\u20e3", "\ufffd", "\ue000",
    "\u200d", "\u2060", "\ufeff", "𠀀", "\r", "a_b", "__", "x/y", "3,000", "  \n  ", "\u0890", "\u32ff", "\U00011938",
]
safe_chars = st.characters(exclude_categories=("Cs", "Cn"), exclude_characters="\u0295")
texts = st.lists(
    st.one_of(st.sampled_from(PIECES + EXTRA_PIECES), st.text(alphabet=safe_chars, max_size=10)), max_size=12
).map("".join)


def _hf(slot: str, spec: dict | None) -> HFTokenizer:
    """A minimal HF tokenizer whose ``slot`` is loaded from exactly this JSON."""
    return _hf_cached(slot, json.dumps(spec, ensure_ascii=False))


@functools.cache
def _hf_cached(slot: str, spec_json: str) -> HFTokenizer:
    document = json.loads(HFTokenizer(models.WordLevel(unk_token="[UNK]")).to_str())
    document[slot] = json.loads(spec_json)
    return HFTokenizer.from_str(json.dumps(document))


def hf_pre_tokenize(spec: dict, text: str) -> list[str]:
    return [piece for piece, _ in _hf("pre_tokenizer", spec).pre_tokenizer.pre_tokenize_str(text)]


def hf_normalize(spec: dict, text: str) -> str:
    return _hf("normalizer", spec).normalizer.normalize_str(text)


def hf_trainer_counts(normalizer: dict | None, pre_tokenizer: dict | None, corpus: list[str]) -> dict[str, int]:
    """The exact pre-token counts HF's trainer accumulates, read back through WordLevel vocabularies.

    WordLevelTrainer keeps the words counted at least ``min_frequency`` times, so a word's count is the largest
    threshold whose vocabulary still holds it.
    """
    document = json.loads(HFTokenizer(models.WordLevel(unk_token="[UNK]")).to_str())
    document["normalizer"], document["pre_tokenizer"] = normalizer, pre_tokenizer
    counts: dict[str, int] = {}
    threshold = 1
    while True:
        tokenizer = HFTokenizer.from_str(json.dumps(document))
        trainer = trainers.WordLevelTrainer(vocab_size=10**6, min_frequency=threshold, show_progress=False,
                                            special_tokens=[])
        tokenizer.train_from_iterator(corpus, trainer)
        words = tokenizer.get_vocab()
        if not words:
            return counts
        for word in words:
            counts[word] = threshold
        threshold += 1


PRE_TOKENIZERS = [
    byte_level_pre_tokenizer(),
    byte_level_pre_tokenizer(add_prefix_space=True),
    byte_level_pre_tokenizer("none"),
    byte_level_pre_tokenizer("none", add_prefix_space=True),
    byte_level_pre_tokenizer("cl100k"),
    byte_level_pre_tokenizer("o200k"),
    whitespace_pre_tokenizer(),
    {"type": "WhitespaceSplit"},
    {"type": "CharDelimiterSplit", "delimiter": "a"},
    {"type": "BertPreTokenizer"},
    digits_pre_tokenizer(),
    digits_pre_tokenizer(individual_digits=True),
    metaspace_pre_tokenizer(),
    metaspace_pre_tokenizer("_", prepend_scheme="first"),
    metaspace_pre_tokenizer(prepend_scheme="never"),
    metaspace_pre_tokenizer(prepend_scheme="first", split=False),
    *({"type": "Punctuation", "behavior": b}
      for b in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]),
    *({"type": "Split", "pattern": pattern, "behavior": b, "invert": invert}
      for pattern in [{"String": " "}, {"String": "ab"}, {"Regex": r"\s+"}, {"Regex": r"a*"}, {"Regex": r"\p{N}"}]
      for b in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
      for invert in [False, True]),
    {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Removed", "invert": True},
    {"type": "Split", "pattern": {"Regex": r"^ +| +$"}, "behavior": "MergedWithNext", "invert": False},
    sequence([{"type": "WhitespaceSplit"}, metaspace_pre_tokenizer(prepend_scheme="first")]),
    sequence([{"type": "Split", "pattern": {"String": " "}, "behavior": "Removed", "invert": False},
              metaspace_pre_tokenizer(prepend_scheme="first")]),
    sequence([{"type": "Punctuation", "behavior": "Isolated"}, digits_pre_tokenizer(True)]),
    sequence([digits_pre_tokenizer(True), byte_level_pre_tokenizer(add_prefix_space=True)]),
    sequence([byte_level_pre_tokenizer(), digits_pre_tokenizer()]),
    sequence([{"type": "WhitespaceSplit"}, byte_level_pre_tokenizer("none", add_prefix_space=True)]),
]

NORMALIZERS = [
    {"type": "NFC"}, {"type": "NFD"}, nfkc_normalizer(), {"type": "NFKD"}, lowercase_normalizer(),
    {"type": "Strip", "strip_left": True, "strip_right": True},
    {"type": "Strip", "strip_left": False, "strip_right": True},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    {"type": "Replace", "pattern": {"String": "ab"}, "content": ""},
    {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
    {"type": "Replace", "pattern": {"Regex": r"a*"}, "content": "-"},
    {"type": "Replace", "pattern": {"Regex": r"(\d)"}, "content": r"\1"},
    {"type": "Replace", "pattern": {"Regex": r"^\s|\s$"}, "content": "#"},
    {"type": "Prepend", "prepend": "\u2581"},
    {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
     "lowercase": True},
    {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False, "strip_accents": False,
     "lowercase": False},
    {"type": "BertNormalizer", "clean_text": False, "handle_chinese_chars": True, "strip_accents": True,
     "lowercase": False},
    sequence([nfkc_normalizer(), lowercase_normalizer()]),
    sequence([{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "},
                                                          "content": "\u2581"}]),
]


@functools.cache
def _strip_accents_lag() -> dict[int, None]:
    """Nonspacing marks newer than HF's category tables: HF keeps them, lexkit strips them (documented)."""
    spec = {"type": "BertNormalizer", "clean_text": False, "handle_chinese_chars": False, "strip_accents": True,
            "lowercase": False}
    marks = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c)) == "Mn"]
    return {ord(c): None for c in marks if hf_normalize(spec, c) != build_normalizer(spec).normalize(c)}


def _ids(spec: dict) -> str:
    return json.dumps(spec, ensure_ascii=False)[:80]


@pytest.mark.parametrize("spec", PRE_TOKENIZERS, ids=_ids)
@examples
@given(text=texts)
def test_pre_tokenizer_matches_hf(spec, text):
    assert build_pre_tokenizer(spec).pre_tokenize(text) == hf_pre_tokenize(spec, text)


@pytest.mark.parametrize("spec", NORMALIZERS, ids=_ids)
@examples
@given(text=texts)
def test_normalizer_matches_hf(spec, text):
    if spec["type"] == "BertNormalizer" and spec["strip_accents"] is not False:
        text = text.translate(_strip_accents_lag())
    assert build_normalizer(spec).normalize(text) == hf_normalize(spec, text)


PIPELINES = [
    (None, byte_level_pre_tokenizer()),
    ({"type": "NFC"}, byte_level_pre_tokenizer("cl100k")),
    ({"type": "Strip", "strip_left": True, "strip_right": False}, metaspace_pre_tokenizer(prepend_scheme="first")),
    ({"type": "Replace", "pattern": {"String": "a"}, "content": ""}, metaspace_pre_tokenizer(prepend_scheme="first")),
    ({"type": "Replace", "pattern": {"Regex": "^ +"}, "content": ""},
     sequence([{"type": "Punctuation", "behavior": "Isolated"}, metaspace_pre_tokenizer(prepend_scheme="first")])),
    ({"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": False,
      "lowercase": True}, {"type": "BertPreTokenizer"}),
    (sequence([nfkc_normalizer(), lowercase_normalizer()]), whitespace_pre_tokenizer()),
    ({"type": "Lowercase"}, None),
]


@pytest.mark.parametrize(("normalizer", "pre_tokenizer"), PIPELINES, ids=lambda spec: _ids(spec or {}))
@settings(deadline=None, max_examples=max(MAX_EXAMPLES // 10, 5))
@given(corpus=st.lists(texts, min_size=1, max_size=6))
def test_pipeline_counts_what_hf_trainer_counts(normalizer, pre_tokenizer, corpus):
    expected = hf_trainer_counts(normalizer, pre_tokenizer, corpus)
    assert dict(build_pipeline(normalizer, pre_tokenizer).count(corpus)) == expected


# ---------------------------------------------------------------------------------------------------------------
# Literal goldens


def test_byte_level_golden():
    pre = build_pre_tokenizer(byte_level_pre_tokenizer())
    assert pre.pre_tokenize("Hello my friend, how's it\n\n  going?  ") == [
        "Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "'s", "Ġit", "ĊĊĠ", "Ġgoing", "?", "ĠĠ"]
    assert pre.pre_tokenize("i⭢j") == ["i", "âŃ¢", "j"]
    assert build_pre_tokenizer(byte_level_pre_tokenizer(add_prefix_space=True)).pre_tokenize("hi") == ["Ġhi"]


def test_cl100k_golden_splits_digits_in_threes_and_attaches_one_leading_character_to_words():
    pre = build_pre_tokenizer(byte_level_pre_tokenizer("cl100k"))
    assert pre.pre_tokenize("I'M 12345 ok!\n\n  x") == ["I", "'M", "Ġ", "123", "45", "Ġok", "!ĊĊ", "Ġ", "Ġx"]


@pytest.mark.parametrize(
    ("behavior", "invert", "expected"),
    [
        ("Removed", False, ["b", "c", "b"]),
        ("Removed", True, ["aa", "aa"]),
        ("Isolated", False, ["b", "aa", "c", "aa", "b"]),
        ("MergedWithPrevious", False, ["baa", "caa", "b"]),
        ("MergedWithPrevious", True, ["b", "aac", "aab"]),
        ("MergedWithNext", False, ["b", "aac", "aab"]),
        ("MergedWithNext", True, ["baa", "caa", "b"]),
        ("Contiguous", False, ["b", "aa", "c", "aa", "b"]),
    ],
)
def test_split_behaviors_with_empty_matches_golden(behavior, invert, expected):
    """Values printed by tokenizers 0.23.3 for ``Split(Regex("a*"), behavior, invert)`` on ``"baacaab"``."""
    spec = {"type": "Split", "pattern": {"Regex": "a*"}, "behavior": behavior, "invert": invert}
    assert build_pre_tokenizer(spec).pre_tokenize("baacaab") == expected


def test_metaspace_first_skips_text_whose_start_a_normalizer_removed():
    """HF prepends ``▁`` only to a piece aligned with offset 0 of the original text."""
    pipeline = build_pipeline({"type": "Strip", "strip_left": True, "strip_right": True},
                              metaspace_pre_tokenizer(prepend_scheme="first"))
    assert pipeline.pre_tokenize("  hello world") == ["hello", "▁world"]
    assert pipeline.pre_tokenize("hello world") == ["▁hello", "▁world"]
    # the plain composition cannot know this: it sees "hello world" and prepends
    assert build_pre_tokenizer(metaspace_pre_tokenizer(prepend_scheme="first")).pre_tokenize("hello world") == [
        "▁hello", "▁world"]


def test_lowercase_is_per_character_like_rust():
    assert build_normalizer(lowercase_normalizer()).normalize("ΟΔΟΣ İ") == "οδοσ i̇"


def test_bert_normalizer_golden():
    spec = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
            "lowercase": True}
    assert build_normalizer(spec).normalize("Héllo\x00\u200b\tWörld中文") == "hello world 中  文 "


def test_none_is_identity():
    assert build_normalizer(None).normalize(" A ") == " A "
    assert build_pre_tokenizer(None).pre_tokenize(" a b ") == [" a b "]
    assert build_pre_tokenizer(None).pre_tokenize("") == []


def test_counting_applies_the_byte_surface_once_per_distinct_pre_token():
    pipeline = build_pipeline(None, byte_level_pre_tokenizer("none", add_prefix_space=True))
    # " a" and "a" both become "Ġa": their counts add up
    assert dict(pipeline.count(["a", " a", "é"])) == {"Ġa": 2, "ĠÃ©": 1}


# ---------------------------------------------------------------------------------------------------------------
# Presets and JSON builders


def test_presets_are_the_published_tokenizer_json_objects():
    from _resources import gpt2_tokenizer_json, llama3_tokenizer_json

    llama3 = json.loads(llama3_tokenizer_json().read_text(encoding="utf-8"))
    gpt2 = json.loads(gpt2_tokenizer_json().read_text(encoding="utf-8"))
    assert byte_level_pre_tokenizer("cl100k") == llama3["pre_tokenizer"]
    assert byte_level_decoder() == llama3["decoder"] == gpt2["decoder"]
    assert byte_level_pre_tokenizer("gpt2") == gpt2["pre_tokenizer"]
    assert llama3["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == CL100K_PATTERN


def test_o200k_pattern_is_tiktokens():
    from _resources import tiktoken_encoding

    assert tiktoken_encoding("o200k_base")._pat_str == O200K_PATTERN


def test_builder_outputs_load_in_hf():
    for spec in [*PRE_TOKENIZERS[:16]]:
        _hf("pre_tokenizer", spec)
    for spec in [nfkc_normalizer(), lowercase_normalizer(), sequence([nfkc_normalizer()])]:
        _hf("normalizer", spec)
    _hf("decoder", byte_level_decoder())


def test_sequence_infers_the_family_or_asks_for_it():
    assert sequence([nfkc_normalizer()]) == {"type": "Sequence", "normalizers": [{"type": "NFKC"}]}
    assert "pretokenizers" in sequence([whitespace_pre_tokenizer()])
    assert sequence([], kind="normalizer") == {"type": "Sequence", "normalizers": []}
    with pytest.raises(ValueError, match="kind="):
        sequence([nfkc_normalizer(), whitespace_pre_tokenizer()])
    with pytest.raises(ValueError, match="kind="):
        sequence([])


def test_byte_level_preset_refuses_a_prefix_space_with_a_split_pattern():
    with pytest.raises(ValueError, match="Prepend"):
        byte_level_pre_tokenizer("o200k", add_prefix_space=True)
    with pytest.raises(ValueError, match="gpt2"):
        byte_level_pre_tokenizer("gpt3")  # type: ignore[arg-type]


def test_metaspace_builder_validates():
    with pytest.raises(ValueError, match="one character"):
        metaspace_pre_tokenizer("__")


# ---------------------------------------------------------------------------------------------------------------
# Errors


def test_unknown_components_build_but_raise_when_run():
    pre = build_pre_tokenizer({"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}]})
    with pytest.raises(UnsupportedComponentError, match="UnicodeScripts") as info:
        pre.pre_tokenize("abc")
    assert "lexkit runs only" in str(info.value) and "Replace it" in str(info.value)
    normalizer = build_normalizer({"type": "Precompiled", "precompiled_charsmap": "AAAA"})
    with pytest.raises(UnsupportedComponentError, match="Precompiled"):
        normalizer.normalize("abc")
    with pytest.raises(UnsupportedComponentError, match="UnicodeScripts"):
        build_pipeline(None, {"type": "UnicodeScripts"}).count(["abc"])
    assert isinstance(UnsupportedComponentError("x"), NotImplementedError)


def test_a_regex_python_cannot_compile_is_deferred_to_run_time():
    pre = build_pre_tokenizer({"type": "Split", "pattern": {"Regex": "(?<x"}, "behavior": "Isolated",
                               "invert": False})
    with pytest.raises(UnsupportedComponentError, match="regex"):
        pre.pre_tokenize("abc")


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": False},
        {"type": "Split", "pattern": "a", "behavior": "Isolated", "invert": False},
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes", "split": True},
        {"type": "Sequence"},
        {"no_type": 1},
    ],
    ids=_ids,
)
def test_malformed_components_raise_format_error_when_built(spec):
    with pytest.raises(FormatError):
        build_pre_tokenizer(spec)


def test_malformed_normalizer_raises_format_error():
    with pytest.raises(FormatError, match="content"):
        build_normalizer({"type": "Replace", "pattern": {"String": "a"}})


# ---------------------------------------------------------------------------------------------------------------
# The Unicode-lag tables, over every code point


@pytest.mark.slow
@pytest.mark.parametrize(
    ("slot", "spec", "template"),
    [
        ("pre_tokenizer", {"type": "Punctuation", "behavior": "Isolated"}, "a{}b"),
        ("pre_tokenizer", {"type": "BertPreTokenizer"}, "a{}b"),
        ("normalizer", {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                        "strip_accents": False, "lowercase": False}, "a{}"),
        *(("normalizer", {"type": form}, "a{}") for form in ["NFC", "NFD", "NFKC", "NFKD"]),
    ],
    ids=_ids,
)
def test_unicode_tables_agree_with_hf_on_every_code_point(slot, spec, template):
    """Every code point the installed ``unicodedata`` knows gives HF's result (re-derive the tables if not)."""
    def run(text: str) -> object:
        if slot == "pre_tokenizer":
            return build_pre_tokenizer(spec).pre_tokenize(text), hf_pre_tokenize(spec, text)
        return build_normalizer(spec).normalize(text), hf_normalize(spec, text)

    bad = []
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000 or unicodedata.category(chr(code)) == "Cn":
            continue
        ours, theirs = run(template.format(chr(code)))
        if ours != theirs:
            bad.append(f"U+{code:04X}")
    assert not bad, f"{len(bad)} code points differ from HF: {bad[:20]}"


def test_white_space_is_rusts():
    """lexkit's white-space set is what HF's Rust ``Strip`` and ``WhitespaceSplit`` remove, over every code point."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    # WhitespaceSplit, one call: white-space code points are the ones missing from the pieces of all of them.
    kept = "".join(hf_pre_tokenize({"type": "WhitespaceSplit"}, "a".join(chars)))
    split = set(chars) - set(kept)
    # Strip: a code point is white space when Rust strips it from both ends of "<c>a<c>" (checked up to U+3000
    # and on the split set; the split shows there is none above).
    strip = {"type": "Strip", "strip_left": True, "strip_right": True}
    stripped = {c for c in [*chars[:0x3001], *split] if hf_normalize(strip, f"{c}a{c}") == "a"}
    assert stripped == split == unicode_tables._WHITE_SPACE_SET
    # Python's str.isspace() is not Rust's: it also counts the separators U+001C..U+001F.
    assert "\x1c".isspace() and "\x1c" not in unicode_tables._WHITE_SPACE_SET and "\x85" in unicode_tables._WHITE_SPACE_SET
