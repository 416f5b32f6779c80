"""KL3M recipes: term lists, the domain trainer (added terms, reserved budget, padding) and the char trainer."""

from __future__ import annotations

import functools
import json
import unicodedata

import pytest
from _resources import legal_licence_texts
from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, normalizers, pre_tokenizers, trainers

from lexkit import Tokenizer
from lexkit.analysis.boundary_stability import boundary_stability, corrupt_ocr
from lexkit.embedded import iter_lines
from lexkit.errors import FormatError, VocabularyError
from lexkit.formats import hf, native
from lexkit.vocab import BPEConfig, CharConfig, DomainConfig, train
from lexkit.vocab.kl3m import (
    KL3M_SPECIAL_TOKENS,
    TERM_SETS,
    builtin_term_set,
    load_term_list,
    next_power_of_two,
    pad_to_power_of_two,
    parse_term_list,
)
from lexkit.vocabulary import TokenKind, Vocabulary

LEGAL_LINES = [
    "See 42 U.S.C. § 1983 and Smith v. Jones, 123 F.3d 456 (9th Cir. 1999).\n",
    "Under subsection (a)(ii), the Licensor grants, pursuant to 17 U.S.C. § 106, a licence (id. at 3).\n",
]
CORPUS = [*iter_lines("prose"), *LEGAL_LINES * 30]


# ----------------------------------------------------------------------------------------------------------------
# term lists
def test_term_list_format_comments_escapes_crlf_bom_and_trailing_blank_lines():
    data = "\ufeff# comment\r\nF.3d\r\n#\n\\s§\nU.S.C.\n\\s\\s\n#define\nC:\\\\x\n\n\n".encode()
    assert parse_term_list(data, "t.txt") == ("F.3d", " §", "U.S.C.", "  ", "#define", "C:\\x")


@pytest.mark.parametrize(("data", "line", "fragment"), [
    (b"F.3d\n\nU.S.C.\n", 2, "empty line between terms"),
    (b"F.3d\n" + b"x" * 65 + b"\n", 2, "longer than the limit of 64"),
    (b"F.3d\nbad\tterm\n", 2, "U+0009"),
    (b"a\x07b\n", 1, "U+0007"),
    ("zero\u200bwidth\n".encode(), 1, "U+200B"),
    (b"F.3d\nId.\nF.3d\n", 3, "repeats line 1"),
    (b" F.3d\n", 1, "raw whitespace"),
    (b"F.3d \n", 1, "raw whitespace"),
    (b"a\\qb\n", 1, "unknown escape"),
    (b"x\n", 1, "single byte"),
    (b"ok\n\xff\xfe\n", 2, "invalid UTF-8"),
])
def test_invalid_term_lists_raise_one_clear_error_naming_file_and_line(tmp_path, data, line, fragment):
    path = tmp_path / "terms.txt"
    path.write_bytes(data)
    with pytest.raises(FormatError) as info:
        load_term_list(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and fragment in message and "\n" not in message


def test_missing_term_file_names_it(tmp_path):
    with pytest.raises(FormatError, match="missing.txt: cannot read"):
        DomainConfig(vocab_size=4096, term_files=(str(tmp_path / "missing.txt"),))


def test_builtin_term_sets():
    sets = {name: builtin_term_set(name) for name in TERM_SETS}
    assert {"(a)", "(z)", "(i)", "(xx)", "(XX)", "(1)"} <= set(sets["enumerations"])
    assert {"1900", "1999", "2030"} <= set(sets["years"]) and "1899" not in sets["years"]
    assert {"U.S.C.", "F.3d", "Fed. Reg.", " §", " §§", "et seq."} <= set(sets["legal"])
    assert {"  ", "\n\n", "\r\n"} <= set(sets["whitespace"])
    with pytest.raises(VocabularyError, match="unknown term set 'medical'"):
        DomainConfig(vocab_size=4096, term_sets=("medical",))


# ----------------------------------------------------------------------------------------------------------------
# domain configuration
def test_domain_terms_are_normalized_deduplicated_and_get_space_variants():
    config = DomainConfig(vocab_size=4096, term_sets=(), terms=("F.3d", "ｆ.3d", "\\s§", "Id."), cased=False)
    assert config.normalizer == "nfkc-lowercase"
    assert config.added_terms() == ("f.3d", " f.3d", " §", "id.", " id.")
    kl3m_form = DomainConfig(vocab_size=4096, term_sets=(), terms=("F.3d",), space_variants=False)
    assert kl3m_form.normalizer == "nfkc" and kl3m_form.added_terms() == ("F.3d",)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_domain_configuration_errors(tmp_path):
    with pytest.raises(VocabularyError, match="also a special token"):
        DomainConfig(vocab_size=4096, term_sets=(), terms=("<|mask|>",))
    with pytest.raises(VocabularyError, match="leaves no room to train.*--vocab-size"):
        DomainConfig(vocab_size=512)
    with pytest.raises(FormatError, match=r"special.txt:2: term '<\|pad\|>' is a special token already"):
        load_term_list(_write(tmp_path / "special.txt", b"F.3d\n<|pad|>\n"), reserved=KL3M_SPECIAL_TOKENS)
    with pytest.raises(FormatError, match=r"terms\[1\]: .*single byte"):
        DomainConfig(vocab_size=4096, term_sets=(), terms=("ok", "x"))


# ----------------------------------------------------------------------------------------------------------------
# domain training
@functools.cache
def _domain(vocab_size: int = 1024) -> Vocabulary:
    terms = ("U.S.C.", "F.3d", "Cir.", "(a)", "(ii)", "1999", "id.", "\\s§", "the")  # " the" is learned too
    return train(CORPUS, DomainConfig(vocab_size=vocab_size, min_frequency=2, term_sets=(), terms=terms),
                 progress=False, workers=1)


def test_domain_layout_reserved_budget_and_power_of_two_padding():
    vocabulary = _domain()
    meta = vocabulary.metadata
    terms = DomainConfig(vocab_size=1024, term_sets=(), terms=meta["config"]["terms"]).added_terms()
    assert len(vocabulary) == vocabulary.model_size == 1024
    assert [t.text for t in vocabulary.tokens[:13]] == list(KL3M_SPECIAL_TOKENS)
    assert all(t.kind == TokenKind.SPECIAL for t in vocabulary.tokens[:13])
    # BPE trained to the budget left by the terms; terms it had learned itself are padded back.
    assert meta["trained_size"] == 1024 - len(terms)
    assert meta["added_terms"] + meta["terms_already_learned"] == len(terms)
    assert meta["padding_tokens"] == meta["terms_already_learned"] > 0
    assert meta["trainer"] == "domain" and meta["num_merges"] == len(vocabulary.merges)
    added = {t.content: t for t in vocabulary.tokens if t.kind == TokenKind.ADDED}
    learned = {t.content for t in vocabulary.tokens[:meta["trained_size"]]}
    for term in terms:  # a term is a new added token, or was learned by BPE and stays an ordinary token
        assert (term.encode() in added) != (term.encode() in learned), term
    assert b"the" in learned and b" the" in learned
    # Terms starting with a word character match whole words only; space variants and "(a)" anywhere.
    assert added[b"id."].added.single_word and added[b"1999"].added.single_word
    assert not added[b" id."].added.single_word and not added[b"(a)"].added.single_word


def test_domain_terms_are_matched_as_single_tokens_and_hf_agrees():
    tokenizer = Tokenizer(_domain())
    text = "Cf. 5 U.S.C. § 552(a) and 12 F.3d 34 (2d Cir. 1999); id. at (ii). paid. 19995 there\n\n\nend"
    ids = tokenizer.encode(text)
    pieces = [tokenizer.token_to_bytes(i) for i in ids]
    for term in (b" U.S.C.", b" \xc2\xa7", b"(a)", b" F.3d", b" Cir.", b" 1999", b" id.", b" (ii)"):
        assert term in pieces, term
    assert b"id." not in pieces and b"1999" not in pieces and b"the" not in pieces  # not cut out of words
    assert tokenizer.decode(ids) == text
    engine = HFTokenizer.from_str(json.dumps(hf.to_hf(tokenizer.vocabulary)))
    encoding = engine.encode(text, add_special_tokens=False)
    assert encoding.ids == ids and engine.decode(encoding.ids) == text


@given(text=st.text())
def test_domain_round_trip(text):
    tokenizer = Tokenizer(_domain())
    # subtle: the oracle is the engine's own NFKC, not `unicodedata`: their Unicode versions differ (HF's leaves
    # U+10781, new in Unicode 14, alone; Python 3.11 maps it to U+02D0), and the encoder runs HF's.
    normalized = normalizers.NFKC().normalize_str(text)
    assert tokenizer.decode(tokenizer.encode(text, disallowed_special=())) == normalized


def test_domain_training_is_deterministic(tmp_path):
    again = train(CORPUS, DomainConfig(vocab_size=1024, min_frequency=2, term_sets=(),
                                       terms=tuple(_domain().metadata["config"]["terms"])),
                  progress=False, workers=1)
    assert native.dumps(again) == native.dumps(_domain())


def test_uncased_domain_lowercases_text_and_terms():
    vocabulary = train(CORPUS, DomainConfig(vocab_size=1024, term_sets=(), terms=("U.S.C.",), cased=False),
                       progress=False, workers=1)
    tokenizer = Tokenizer(vocabulary)
    assert [tokenizer.token_to_bytes(i) for i in tokenizer.encode("42 U.S.C.")][-1] == b" u.s.c."
    merged = [t.content for t in vocabulary.tokens if t.kind == TokenKind.NORMAL and len(t.content) > 1]
    assert merged and all(content == content.lower() for content in merged)


# ----------------------------------------------------------------------------------------------------------------
# padding
def test_padding_rounds_up_and_keeps_exact_powers():
    assert [next_power_of_two(n) for n in (1, 2, 3, 4096, 4097, 65535)] == [1, 2, 4, 4096, 8192, 65536]
    base = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b" ", b" ")])
    padded = pad_to_power_of_two(base)
    assert len(padded) == 512
    # " " * 2 exists already (a merge result), so the filler starts with "\n\n" and then alternates.
    assert [t.content for t in padded.tokens[257:261]] == [b"\n\n", b"   ", b"\n\n\n", b"    "]
    assert pad_to_power_of_two(padded) is padded
    reserved = pad_to_power_of_two(base, filler="reserved")
    assert reserved.tokens[257].text == "<|reserved_0|>" and reserved.tokens[-1].kind == TokenKind.SPECIAL


# ----------------------------------------------------------------------------------------------------------------
# char
def _longest_learned(vocabulary: Vocabulary) -> int:
    return max(len(t.content) for t in vocabulary.tokens if t.kind == TokenKind.NORMAL)


@pytest.mark.parametrize("max_chars", [2, 3, 4])
def test_char_cap_is_inclusive(max_chars):
    vocabulary = train(CORPUS, CharConfig(vocab_size=2048, max_chars=max_chars, pad_to_power_of_two=False),
                       progress=False, workers=1)
    assert _longest_learned(vocabulary) == max_chars
    assert vocabulary.metadata["length_rule"] == "inclusive"


def test_char_presets_and_defaults():
    assert (CharConfig.preset("4k").vocab_size, CharConfig.preset("4k").max_chars) == (4096, 3)
    assert CharConfig.preset("8k").max_chars == 3 and CharConfig.preset("16k").max_chars == 4
    assert CharConfig(vocab_size=16384).max_token_length == 4
    assert CharConfig(vocab_size=4096, hf_length_rule=True).max_token_length == 4
    with pytest.raises(VocabularyError, match="contradicts max_chars"):
        CharConfig(vocab_size=4096, max_chars=3, max_token_length=8)
    with pytest.raises(VocabularyError, match="unknown char preset"):
        CharConfig.preset("32k")


def _hf_char(max_token_length: int, lines: list[str]) -> dict:
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=1500, min_frequency=2, special_tokens=list(KL3M_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
                                  max_token_length=max_token_length)
    tokenizer.train_from_iterator(lines, trainer)
    return json.loads(tokenizer.to_str())["model"]


def test_char_hf_length_rule_reproduces_kl3m_hf_training_exactly():
    lines = list(iter_lines("prose"))
    ours = train(lines, CharConfig(vocab_size=1500, max_chars=3, hf_length_rule=True, pad_to_power_of_two=False),
                 progress=False, workers=1)
    theirs = _hf_char(4, lines)  # KL3M: max_token_length = max_chars + 1
    model = hf.to_hf(ours)["model"]
    assert model["vocab"] == theirs["vocab"] and model["merges"] == theirs["merges"]
    assert _longest_learned(ours) == 3
    # HF's off-by-one: max_token_length=3 caps learned tokens at 2 symbols.
    assert max(len(token) for token in _hf_char(3, lines)["vocab"] if not token.startswith("<")) == 2


# ----------------------------------------------------------------------------------------------------------------
# real legal text
@functools.cache
def _licences() -> tuple[list[str], list[str]]:
    texts = [unicodedata.normalize("NFKC", text) for _, text in legal_licence_texts(limit=400)]
    return texts[:360], texts[360:]


@pytest.mark.slow
def test_char_on_licences_caps_tokens_and_keeps_boundaries_better_than_bpe():
    train_texts, held_out = _licences()
    char = Tokenizer(train(train_texts, CharConfig.preset("4k"), progress=False, workers=1))
    bpe = Tokenizer(train(train_texts, BPEConfig(vocab_size=4096, normalizer="nfkc"), progress=False, workers=1))
    assert _longest_learned(char.vocabulary) == 3 < _longest_learned(bpe.vocabulary)
    corrupted = [corrupt_ocr(text, 0.05, seed=i) for i, text in enumerate(held_out)]
    assert sum(c.deletions for c in corrupted) > 100 and sum(c.substitutions for c in corrupted) > 100
    char_score = boundary_stability(char, held_out, corrupted)
    bpe_score = boundary_stability(bpe, held_out, corrupted)
    assert char_score.f1 > bpe_score.f1 and char_score.precision > bpe_score.precision


@pytest.mark.slow
def test_domain_on_licences_encodes_enumerations_and_years_as_single_tokens():
    train_texts, held_out = _licences()
    vocabulary = train(train_texts, DomainConfig(vocab_size=4096), progress=False, workers=1)
    tokenizer = Tokenizer(vocabulary)
    text = next(t for t in held_out if "(a)" in t or "(b)" in t)
    start = max(text.find("(a)"), text.find("(b)"))
    pieces = [tokenizer.token_to_bytes(i) for i in tokenizer.encode(text[start:start + 3])]
    assert len(pieces) == 1
    assert len(tokenizer.encode(" 2004")) == 1 and len(tokenizer.encode(" U.S.C.")) == 1
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_latin1_only_terms_warn_about_hf_decoding(caplog):
    config = DomainConfig(vocab_size=1024, term_sets=(), terms=("§§", "\\s¶"), space_variants=False)
    with caplog.at_level("WARNING", logger="lexkit.vocab.kl3m"):
        vocabulary = train(CORPUS, config, progress=False, workers=1)
    assert "1 added terms (e.g. '§§') are Latin-1-only" in caplog.text
    tokenizer = Tokenizer(vocabulary)
    assert tokenizer.decode(tokenizer.encode("a §§ b ¶")) == "a §§ b ¶"  # lexkit's own decode is exact
