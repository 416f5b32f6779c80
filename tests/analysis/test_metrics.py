"""Intrinsic metrics: hand-checked values, streaming equality, probes."""

from __future__ import annotations

import math

import _resources
import numpy as np
import pytest

from lexkit import CorpusError, Tokenizer
from lexkit.analysis import metrics as m
from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
from lexkit.embedded import iter_lines
from lexkit.formats.tiktoken import from_tiktoken
from lexkit.vocab import BPEConfig, train
from lexkit.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer(train(list(iter_lines("prose")), BPEConfig(vocab_size=1000), progress=False, workers=1))


def test_renyi_efficiency_matches_the_formula():
    counts = np.array([6, 3, 1, 0])
    p = np.array([0.6, 0.3, 0.1])
    expected = math.log2(np.sum(p**2.5)) / (1 - 2.5) / math.log2(3)
    assert m.renyi_efficiency(counts) == pytest.approx(expected)
    assert m.renyi_efficiency(np.array([4, 4])) == pytest.approx(1.0)
    assert m.renyi_efficiency(np.array([9])) == 0.0


def test_gini_and_median_share():
    assert m.gini(np.array([0, 0, 0, 10])) == pytest.approx(0.75)
    assert m.gini(np.array([3, 3, 3])) == 0.0
    assert m.share_below_median(np.array([1, 2, 3, 4, 100])) == pytest.approx(0.4)


def test_zipf_fit_recovers_an_exact_power_law():
    counts = (1e6 * np.arange(1, 500, dtype=np.float64) ** -1.2).astype(np.int64)
    fit = m.zipf_fit(counts)
    assert fit.exponent == pytest.approx(1.2, abs=0.01) and fit.r_squared > 0.999


def test_batches_end_at_the_text_count_or_the_character_bound():
    texts = [f"t{i}" for i in range(10_000)]
    for size, max_chars, lengths in [(4, 10**6, [4] * 2500), (6_000, 10**9, [6_000, 4_000]),
                                     (10_000, 100, [4096, 4096, 1808])]:  # the bound is checked per 4,096 texts
        batches = list(m._batched(iter(texts), size, max_chars))
        assert [len(b) for b in batches] == lengths
        assert [t for b in batches for t in b] == texts
    assert list(m._batched(iter([]), 5, 5)) == []


def test_streaming_counts_equal_one_pass_and_batch_size_does_not_matter(tok):
    lines = list(iter_lines("code"))[:3000]
    small = m.measure_corpus(tok, iter(lines), batch_size=7)
    large = m.measure_corpus(tok, iter(lines), batch_size=5000)
    ids = tok.encode_batch(lines, disallowed_special=())
    assert small.tokens == large.tokens == sum(map(len, ids))
    assert np.array_equal(small.counts, large.counts)
    assert small.bytes == sum(len(x.encode()) for x in lines)
    summary = m.summarize("t", "c", tok, small)
    assert summary.bytes_per_token == pytest.approx(small.bytes / small.tokens)
    used = np.bincount([i for row in ids for i in row], minlength=len(tok.vocabulary))
    assert summary.utilisation == pytest.approx(np.count_nonzero(used) / tok.vocabulary.model_size)
    p = used[used > 0] / used.sum()
    renyi = math.log2(float(np.sum(p ** 2.5))) / (1 - 2.5) / math.log2(np.count_nonzero(used))
    assert summary.renyi_efficiency == pytest.approx(renyi)


def test_text_totals_equal_the_per_text_definitions():
    """The batch formulas (one join, spaces plus lines) against the definitions counted text by text."""
    texts = list(iter_lines("code"))[:2000] + ["", "   \n", "a  b\r\nc d\u2028e", "no newline", " x ", "\u00e9 \u65e5\n",
                                             "\r", "\nb", "x\u3000\n", "abc", "\u1680y\x1c", "\ud800 lone",
                                             "a\r", "", "\n\r\nz\r\n", "\r\n\r\n", "\r\r\n"]
    totals = m.TextTotals.of(texts)
    assert totals.texts == len(texts)
    assert totals.bytes == sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    assert totals.characters == sum(map(len, texts))
    assert totals.words == sum(len(t.split()) for t in texts)
    assert totals.words_greed == sum(len(line.split(" ")) for t in texts if t.strip() for line in t.splitlines())


def test_character_classes_cover_every_space_and_line_break():
    """The class table stops at U+3000: no str.isspace or str.splitlines character lies above it."""
    above = [c for c in range(m._CLASS_LIMIT, 0x110000) if chr(c).isspace() or len(f"a{chr(c)}b".splitlines()) > 1]
    assert above == []


def test_measure_corpora_equals_the_per_line_definitions_on_the_real_corpus():
    """Before/after: the counts of the joined, numpy-counted pass equal line-by-line encoding and str methods
    (2 MB of the English corpus, GPT-2 and o200k)."""
    with open(_resources.corpus_path(), encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(54_000), handle)]
    tokenizers = {"gpt2": Tokenizer.load(_resources.gpt2_tokenizer_json()),
                  "o200k": Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base")))}
    measured = m.measure_corpora(tokenizers, iter(lines), batch_size=5000)
    words = sum(len(line.split()) for line in lines)
    greed = sum(len(part.split(" ")) for line in lines if line.strip() for part in line.splitlines())
    for name, tokenizer in tokenizers.items():
        ids, _ = tokenizer.encode_batch_flat(lines, disallowed_special=())
        counts = measured[name]
        assert np.array_equal(counts.counts, np.bincount(ids, minlength=len(tokenizer.vocabulary)))
        assert (counts.tokens, counts.texts, counts.words, counts.words_greed) == (ids.size, len(lines), words, greed)
        assert counts.bytes == sum(len(line.encode()) for line in lines)
        assert counts.characters == sum(map(len, lines))


def test_one_pass_for_several_tokenizers_equals_one_pass_each(tok):
    other = Tokenizer(train(list(iter_lines("code")), BPEConfig(vocab_size=600), progress=False, workers=1))
    lines = list(iter_lines("prose"))[:2000]
    both = m.measure_corpora({"a": tok, "b": other}, iter(lines), batch_size=300)
    for name, single in (("a", tok), ("b", other)):
        alone = m.measure_corpus(single, iter(lines))
        assert np.array_equal(both[name].counts, alone.counts)
        assert (both[name].tokens, both[name].bytes, both[name].words) == (alone.tokens, alone.bytes, alone.words)


def test_empty_corpus_raises(tok):
    with pytest.raises(CorpusError, match="empty"):
        m.measure_corpus(tok, iter([]))


def test_digit_grouping_classifies_real_tokenizers(tok):
    result = m.digit_grouping(tok)
    assert sum(result["kinds"].values()) == len(m.DIGIT_PROBES)
    assert "".join(result["pieces"]["1234567"]) == "1234567"
    assert m._groups(7, from_left=True) == [3, 3, 1] and m._groups(7, from_left=False) == [1, 3, 3]


def test_percent_fewer_tokens():
    assert m.percent_fewer_tokens(80, 100) == pytest.approx(20.0)
    assert m.percent_fewer_tokens(120, 100) == pytest.approx(-20.0)


@pytest.fixture(scope="module")
def hand_bpe() -> Tokenizer:
    """A byte-level BPE whose segmentations are worked out by hand: " un|happ|i|ness", " read|a|ble", " cats",
    and " a|bc" (BPE: "bc" ranks first) against " ab|c" (longest token first)."""
    merges = [(b" ", b"u"), (b" u", b"n"), (b"h", b"a"), (b"ha", b"p"), (b"hap", b"p"), (b"n", b"e"),
              (b"ne", b"s"), (b"nes", b"s"), (b" ", b"r"), (b" r", b"e"), (b" re", b"a"), (b" rea", b"d"),
              (b"b", b"l"), (b"bl", b"e"), (b" ", b"c"), (b" c", b"a"), (b" ca", b"t"), (b" cat", b"s"),
              (b"b", b"c"), (b" ", b"a"), (b" a", b"b")]
    vocabulary = Vocabulary.from_merges([bytes([b]) for b in range(256)], merges,
                                        pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    return Tokenizer(vocabulary)


def test_morph_boundary_f1(hand_bpe, tmp_path):
    gold = tmp_path / "gold.tsv"
    gold.write_text("# word<TAB>morphs\nunhappiness\tun happi ness\nreadable\tread able\ncats\tcat s\n",
                    encoding="utf-8")
    # un|happ|i|ness cuts at 2, 6, 7 against gold 2, 7; read|a|ble at 4, 5 against 4; " cats" is one token (skipped)
    result = m.morph_boundary_f1(hand_bpe, gold)
    assert result == {"f1": 0.75, "words": 2, "tp": 3, "fp": 2, "fn": 0}
    gold.write_text("cats\tdog s\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        m.morph_boundary_f1(tok, gold)


def test_segmentation_difference_between_encoders(hand_bpe):
    words = ["unhappiness", "abc", "readable", "cats"]
    result = m.segmentation_difference(hand_bpe, ["bpe", "longest-token"], words)
    # only "abc" differs (" a|bc" against " ab|c"); both give 4 + 2 + 3 + 1 tokens for the four words
    assert result == {"bpe": {"tokens_per_word": 2.5, "differs_from_bpe": 0.0},
                      "longest-token": {"tokens_per_word": 2.5, "differs_from_bpe": 0.25}}


def test_rarer_half_share_ignores_unused_tokens():
    # most of the vocabulary unused: the vocabulary-wide "share below median" read 0 here
    counts = np.array([0, 0, 0, 0, 0, 1, 1, 2, 6])
    assert m.share_below_median(counts) == 0.0
    assert m.rarer_half_share(counts) == pytest.approx(0.2)
    assert m.rarer_half_share(np.array([5, 5, 5, 5])) == pytest.approx(0.5)
