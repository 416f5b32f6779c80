"""The compiled pre-token counter (``lexkit/corpus/_split_kernel.c``) against ``regex`` and HF's pre-tokenizer.

Each built-in split pattern is checked on every short string over an alphabet that reaches every branch of the
matchers, on generated mixes of ASCII and non-ASCII items (key order included), on long runs of one character
and on real text (Turkish, mostly non-ASCII lines; tests/vocab/test_train.py counts the English corpus through
``count_pre_tokens``).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from functools import cache

import _resources
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import PIECES
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models

from lexkit.components import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    build_pipeline,
    byte_level_pre_tokenizer,
)
from lexkit.corpus import splitting

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}
# One character of each class the matchers tell apart, the letters of the contractions, and one non-ASCII letter.
ALPHABET = ["a", "A", "s", "l", "e", "0", " ", "\t", "\n", "\r", "'", "/", "!", "é"]
ASCII_PIECES = [p for p in PIECES if p.isascii()] + [
    "'S", "'LL", "'Re", "x'd", "  \n", " \t ", "\x0b", "\x1c ", "a\r\n", "\r\n/", "HELLOworld", "ABC'S", "1234567",
    " !!/", "\x00", "\x7f",
]
MIXED_PIECES = ASCII_PIECES + [p for p in PIECES if not p.isascii()] + ["\ud800", "a\udfff b"]


def kernel_count(name: str, texts: list[str]) -> Counter[str]:
    counter = splitting.fast_counter(None, byte_level_pre_tokenizer(name))  # type: ignore[arg-type]
    assert counter is not None
    return counter(texts)


def reference_count(name: str, texts: list[str]) -> Counter[str]:
    """``Counter.update`` over ``regex.findall``: the counts and the key order the kernel must give."""
    findall = regex.compile(PATTERNS[name]).findall
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(findall(text))
    return counts


def assert_same(ours: Counter[str], theirs: Counter[str]) -> None:
    assert ours == theirs
    assert list(ours) == list(theirs)  # first-occurrence order, as Counter.update gives it


def test_the_kernel_is_built_and_used():
    assert splitting._kernel is not None, (
        "lexkit.corpus._split_kernel was not built: install a C compiler and run `make install`"
    )
    assert splitting._ascii_classes() is not None


@pytest.mark.parametrize("name", list(PATTERNS))
def test_every_short_string_splits_as_regex(name):
    texts = ["".join(chars) for size in range(1, 5) for chars in itertools.product(ALPHABET, repeat=size)]
    findall = regex.compile(PATTERNS[name]).findall
    counter = splitting.fast_counter(None, byte_level_pre_tokenizer(name))  # type: ignore[arg-type]
    assert counter is not None
    wrong = [text for text in texts if counter([text]) != Counter(findall(text))]
    assert wrong == []
    assert_same(counter(texts), reference_count(name, texts))


@pytest.mark.parametrize("name", list(PATTERNS))
@given(texts=st.lists(st.lists(st.one_of(st.sampled_from(MIXED_PIECES), st.text(alphabet=st.characters(
    max_codepoint=127), max_size=8), st.text(max_size=4)), max_size=12).map("".join), max_size=8))
def test_mixed_items_count_and_order_as_regex(name, texts):
    assert_same(kernel_count(name, texts), reference_count(name, texts))


@pytest.mark.parametrize("name", list(PATTERNS))
def test_long_runs(name):
    texts = ["x" * 1_000_000, " " * 100_000 + "a", "\n" * 50_000, "0" * 100_001, "'" * 3_001, "!" * 10_000 + "\n",
             "ab " * 20_000 + "\r\n" * 1_000, "A" * 5_000 + "'s", "é" * 10_000 + " x"]
    assert_same(kernel_count(name, texts), reference_count(name, texts))


@cache
def _hf_pre_tokenizer(name: str) -> HFTokenizer:
    document = json.loads(HFTokenizer(models.WordLevel(unk_token="[UNK]")).to_str())
    document["pre_tokenizer"] = byte_level_pre_tokenizer(name)  # type: ignore[arg-type]
    return HFTokenizer.from_str(json.dumps(document))


@pytest.mark.parametrize("name", list(PATTERNS))
@settings(max_examples=60)
@given(texts=st.lists(st.lists(st.one_of(st.sampled_from(ASCII_PIECES + ["é", "日本語", "😀"]), st.text(
    alphabet=st.characters(max_codepoint=127, blacklist_characters="\x1c\x1d\x1e\x1f\x85"), max_size=8)),
    max_size=10).map("".join), max_size=6))
def test_surface_counts_equal_hf_pre_tokenizer(name, texts):
    pre_tokenizer = _hf_pre_tokenizer(name).pre_tokenizer
    theirs = Counter(piece for text in texts for piece, _ in pre_tokenizer.pre_tokenize_str(text))
    pipeline = build_pipeline(None, byte_level_pre_tokenizer(name))  # type: ignore[arg-type]
    assert pipeline.surface_counts(kernel_count(name, texts)) == theirs


@pytest.mark.parametrize("name", list(PATTERNS))
def test_real_turkish_text(name):
    data = _resources.turkish_path("wiki.conllu").read_bytes()[:1_000_000]
    lines = data[:data.rfind(b"\n") + 1].decode("utf-8").splitlines(keepends=True)
    assert sum(not line.isascii() for line in lines) > len(lines) // 4  # both paths of the kernel run
    assert_same(kernel_count(name, lines), reference_count(name, lines))


def test_bad_arguments_raise():
    from lexkit.corpus import _split_kernel

    findall = regex.compile(GPT2_PATTERN).findall
    classes = splitting._ascii_classes()
    with pytest.raises(TypeError, match="text item 1 is int"):
        _split_kernel.Counts(0, classes, findall).count_texts(["a", 3])
    with pytest.raises(ValueError, match="pattern must be"):
        _split_kernel.Counts(7, classes, findall)
    with pytest.raises(TypeError, match="fallback must return a list"):
        _split_kernel.Counts(0, classes, lambda text: None).count_texts(["é"])


@pytest.mark.parametrize("name", list(PATTERNS))
def test_file_blocks_count_as_their_lines(name):
    data = _resources.corpus_path().read_bytes()[:1_000_000] + "\r\nlast line, é, no newline".encode()
    cut = data.index(b"\n", len(data) // 2) + 1
    table = splitting.block_counter(None, byte_level_pre_tokenizer(name))  # type: ignore[arg-type]
    assert table is not None
    lines = [line + "\n" for line in data.decode("utf-8").split("\n")]
    lines[-1] = lines[-1][:-1]
    # two blocks into one table: the counts of the whole, in order of first occurrence
    assert table.count_block(data[:cut]) + table.count_block(data[cut:]) == len(lines)
    assert len(table) == len(reference_count(name, lines))
    assert_same(table.take(), reference_count(name, lines))
    assert len(table) == 0 and table.take() == Counter()


def test_invalid_utf8_blocks_count_nothing():
    table = splitting.block_counter(None, byte_level_pre_tokenizer())
    assert table is not None
    assert table.count_block(b"first\n") == 1
    with pytest.raises(UnicodeDecodeError):
        table.count_block(b"fine\nnot \xff fine\n")
    assert table.count_block(b"") == 0
    assert table.take() == Counter({"first": 1, "\n": 1})


def test_add_counts_is_counter_update():
    counts = Counter({"a": 1, "b": 2})
    splitting.add_counts(counts, Counter({"b": 3, "c": 4, "a": 2**70}))
    assert counts == Counter({"a": 2**70 + 1, "b": 5, "c": 4})
    assert list(counts) == ["a", "b", "c"]


def test_packed_counts_add_up_like_counters():
    data = _resources.corpus_path().read_bytes()[:300_000]
    cut = data.index(b"\n", len(data) // 2) + 1
    parts = [data[:cut], data[cut:], "déjà vu, 😀 again\n".encode()]
    whole = splitting.block_counter(None, byte_level_pre_tokenizer())
    assert whole is not None
    for part in parts:
        whole.count_block(part)
    merged = splitting.block_counter(None, byte_level_pre_tokenizer())
    packer = splitting.block_counter(None, byte_level_pre_tokenizer())
    assert merged is not None and packer is not None
    for part in parts:  # what the pool does: each block counted apart, packed, added in corpus order
        packer.count_block(part)
        merged.add_packed(packer.take_packed())
        assert len(packer) == 0
    expected = whole.take()
    got = merged.take()
    assert got == expected and list(got) == list(expected)
    with pytest.raises(ValueError, match="take_packed"):
        merged.add_packed(b"\x01\x00\x00")
