"""SentencePiece BPE with byte fallback (Mistral v1's real model) through an exact oracle, no network.

sentencepiece itself is the independent reference: it decides canonicality in the brute-force cover enumeration
and tokenizes the Markov source the oracle LM is built from; lexkit's adapter (``▁`` as a space, ``<0xNN>`` as
bytes, the dummy prefix as a text prefix) must agree with it.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _resources import mistral_sp_model

from lexkit import EncodingError, Tokenizer
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.sampling import EOS, ByteSampler, TokenizerAdapter
from lexkit.sampling._oracles import OracleLM, markov_texts, next_byte_truth

logger = logging.getLogger(__name__)


class UniformLM:
    """Every token equally likely: mass on every sequence, so the covers the ByteSampler keeps are its mask's doing."""

    def __init__(self, vocab_size: int, eos_id: int) -> None:
        self.vocab_size, self.eos_id, self.forward_calls = vocab_size, eos_id, 0

    def next_token_logprobs(self, prefixes):
        self.forward_calls += len(prefixes)
        lp = -np.log(self.vocab_size)
        return np.array([lp * len(p) for p in prefixes]), np.full((len(prefixes), self.vocab_size), lp)


@pytest.fixture(scope="module")
def mistral():
    import sentencepiece as spm

    path = mistral_sp_model()
    processor = spm.SentencePieceProcessor(model_file=str(path))
    vocabulary = from_sentencepiece(path)
    return processor, vocabulary, TokenizerAdapter.from_tokenizer(Tokenizer(vocabulary))


def test_adapter_encodes_like_sentencepiece(mistral):
    processor, _, adapter = mistral
    assert adapter.text_prefix == b" "
    texts = ["hello world", "  two  spaces ", "a\n\nb\tc", "café 龘 😀", "x", " ", "<s> literal", "1234 + 5678"]
    for text in texts:
        assert adapter.encode(b" " + text.encode()) == processor.encode(text), text
        assert adapter.decode(processor.encode(text)) == b" " + text.encode()


def brute_force_covers(processor, adapter, z: bytes) -> set[tuple[int, ...]]:
    """Every canonical token sequence that covers ``z``, by enumeration; sentencepiece decides canonicality."""
    tokens = [(t, b) for t, b in enumerate(adapter.token_bytes) if b]
    by_bytes: dict[bytes, list[int]] = {}
    for t, b in tokens:
        by_bytes.setdefault(b, []).append(t)  # a byte piece and a normal piece can share their bytes

    def segmentations(data: bytes) -> list[tuple[int, ...]]:
        if not data:
            return [()]
        return [(t, *rest) for j in range(1, len(data) + 1) for t in by_bytes.get(data[:j], [])
                for rest in segmentations(data[j:])]

    candidates = [(*left, t) for i in range(len(z)) for last in [[t for t, b in tokens if b.startswith(z[i:])]]
                  for left in segmentations(z[:i]) for t in last]
    texts = [adapter.decode(c) for c in candidates]
    encoded = processor.encode([text[1:].decode("utf-8") for text in texts])
    return {c for c, ids in zip(candidates, encoded) if list(c) == ids}


@pytest.mark.parametrize("text", ["ab", "the c", " a", "é", "龘", "a\n", "a  b"])
def test_covers_equal_brute_force(mistral, text):
    processor, _, adapter = mistral
    byte_lm = ByteSampler(UniformLM(len(adapter), 2), adapter)
    state = byte_lm.start(text)
    assert state.text == text.encode() and state.data == b" " + text.encode()
    covers = {tuple(c) for c in byte_lm.covers(state)}
    assert covers == brute_force_covers(processor, adapter, state.data)
    assert tuple(processor.encode(text)) in covers


def test_byte_pieces_only_for_characters_outside_the_vocabulary(mistral):
    """After " caf" the byte piece <0xC3> is masked (every character C3 xx is a piece); after " x" the first
    byte of 龘 (not a piece) is allowed, and invalid UTF-8 bytes never are."""
    _, vocabulary, adapter = mistral
    byte_id = {t.content[0]: t.id for t in vocabulary.tokens if t.kind.value == "byte"}
    for text, byte, allowed in [(b" caf", 0xC3, False), (b" x", 0xE9, True), (b" x", 0xFF, False),
                                (b" x", 0x80, False), (b" x\xe9\xbe", 0x98, True), (b" x\xc3", 0xA9, False)]:
        prefix = adapter.encode(text)
        got = adapter.valid_extensions(prefix, np.array([byte_id[byte]]))[0]
        assert bool(got) is allowed, (text, hex(byte))


def test_markov_source_exact_with_byte_fallback_and_dummy_prefix(mistral):
    """Every byte prefix (inside characters too, the empty text included) of a source over a, space, é (a
    piece), newline and 龘 (both byte fallback): lexkit's next-byte distribution equals the truth."""
    processor, _, adapter = mistral
    symbols = [b"a", b" ", "é".encode(), b"\n", "龘".encode()]
    strings = markov_texts(symbols, 4, seed=4)
    truth = next_byte_truth(strings)
    oracle = OracleLM(strings, lambda x: processor.encode(x.decode("utf-8")), vocab_size=len(adapter), eos_id=2)
    byte_lm = ByteSampler(oracle, adapter)
    worst, nodes = 0.0, 0
    stack = [byte_lm.start(b"")]
    while stack:
        state = stack.pop()
        nodes += 1
        expected = truth(state.text)
        worst = max(worst, float(np.abs(np.exp(byte_lm.next_byte_logprobs(state)) - expected).max()))
        stack += [byte_lm.push(state, b) for b in np.flatnonzero(expected[:EOS]).tolist()]
    logger.info("mistral sentencepiece: %d prefixes, max |exact - true| = %.2e", nodes, worst)
    assert nodes > 500
    assert worst < 1e-9
    assert abs(byte_lm.logprob("a é") - np.log(sum(p for x, p in strings.items() if x.startswith("a é".encode())))) \
        < 1e-9


def test_unsupported_sentencepiece_settings_are_refused(mistral):
    _, vocabulary, _ = mistral
    no_fallback = vocabulary.replace(model_options={**vocabulary.model_options, "byte_fallback": False})
    with pytest.raises(EncodingError, match="no byte fallback"):
        TokenizerAdapter.from_tokenizer(Tokenizer(no_fallback))
    squeeze = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
    normalizer = {"type": "Sequence", "normalizers": [squeeze, *vocabulary.normalizer["normalizers"]]}
    with pytest.raises(EncodingError, match="normalizer steps"):
        TokenizerAdapter.from_tokenizer(Tokenizer(vocabulary.replace(normalizer=normalizer)))
