"""Test oracles for byte-level sampling: known sources, their exact answers, a biased baseline and toy tokenizers.

Private: the tests and ``bench/bench_sampling.py`` check `lexkit.sampling.ByteSampler` against these; they are
not part of the API.

- `OracleLM`: the exact token-level model of a known distribution over byte strings (pure numpy), the oracle of
  the Markov-chain exactness test (``tests/lexkit/sampling/test_markov_exactness.py``); `markov_strings` and
  `markov_texts` make such
  distributions and `next_byte_truth` gives their exact next-byte answers.
- `naive_next_byte`: the usual biased estimate (conditioning on ``encode(prefix)``), the baseline the benchmark
  measures the bias of.
- A toy vocabulary, with merge-rank BPE (`toy_bpe`) and maximum-prefix
  (`toy_mpe`) encoders.

The toy vocabulary has six merges over ``{a, b}``: (a,a), (a,b), (aa,b), (b,b), (ab,a), (aab,b), giving the tokens a, b, aa, ab, aab, bb,
aba, aabb (ids in that order; EOS is id 8). Small enough to enumerate every token sequence, so the tests compare
cover enumeration with brute force and the benchmark shows tokenization bias (Phan et al., arXiv 2406.16829)
under both encoders over one vocabulary. `rank_bpe` builds other small merge-rank BPEs (the ensemble tests pair
two different vocabularies over one source).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from lexkit.sampling.adapter import TokenizerAdapter
from lexkit.sampling.lm import TokenLM
from lexkit.sampling.sampler import EOS

__all__ = [
    "TOY_EOS",
    "TOY_MERGES",
    "TOY_TOKENS",
    "OracleLM",
    "markov_strings",
    "markov_texts",
    "naive_next_byte",
    "next_byte_truth",
    "rank_bpe",
    "toy_bpe",
    "toy_mpe",
]

TOY_MERGES: tuple[tuple[bytes, bytes], ...] = (
    (b"a", b"a"), (b"a", b"b"), (b"aa", b"b"), (b"b", b"b"), (b"ab", b"a"), (b"aab", b"b"),
)
TOY_TOKENS: tuple[bytes, ...] = (b"a", b"b", *(left + right for left, right in TOY_MERGES))
TOY_EOS = len(TOY_TOKENS)
_IDS = {token: token_id for token_id, token in enumerate(TOY_TOKENS)}


def rank_bpe(
    alphabet: bytes, merges: Sequence[tuple[bytes, bytes]]
) -> tuple[tuple[bytes, ...], Callable[[bytes], list[int]]]:
    """A merge-rank BPE: the single bytes of ``alphabet`` then one token per merge, and its encoder.

    The encoder repeatedly merges the lowest-rank adjacent pair, leftmost first; it raises ``KeyError`` on a
    byte outside ``alphabet``.
    """
    tokens = tuple(bytes([b]) for b in alphabet) + tuple(left + right for left, right in merges)
    ids = {token: token_id for token_id, token in enumerate(tokens)}
    ranks = {pair: rank for rank, pair in enumerate(merges)}

    def encode(data: bytes) -> list[int]:
        symbols = [bytes([b]) for b in data]
        while len(symbols) > 1:
            best = min(((ranks[pair], k) for k, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks),
                       default=None)
            if best is None:
                break
            k = best[1]
            symbols[k:k + 2] = [symbols[k] + symbols[k + 1]]
        return [ids[s] for s in symbols]

    return tokens, encode


_, _toy_encode = rank_bpe(b"ab", TOY_MERGES)


def toy_bpe(data: bytes) -> list[int]:
    """Merge-rank BPE over the toy merges: repeatedly merge the lowest-rank adjacent pair, leftmost first.

    Raises:
        KeyError: ``data`` holds a byte other than ``a`` or ``b``.
    """
    return _toy_encode(data)


def toy_mpe(data: bytes) -> list[int]:
    """Maximum-prefix encoding over the toy tokens: the longest matching token, left to right.

    Raises:
        KeyError: ``data`` holds a byte other than ``a`` or ``b``.
    """
    ids, position = [], 0
    while position < len(data):
        best = max((t for t in TOY_TOKENS if data.startswith(t, position)), key=len, default=None)
        if best is None:
            raise KeyError(f"byte {data[position:position + 1]!r} at {position} is not in the toy alphabet")
        ids.append(_IDS[best])
        position += len(best)
    return ids


class OracleLM:
    """The exact token-level process of a known byte-string distribution: T = encode(X) followed by EOS.

    ``P_tok(c)`` is the total probability of the strings whose token sequence (EOS appended) starts with ``c``;
    the model is ``P(t | c) = P_tok(c + [t]) / P_tok(c)``. It puts no mass on non-canonical sequences, so the
    BTR lemma of Phan et al. (arXiv 2410.09303) holds for it exactly.

    Args:
        strings: probability of each complete byte string (they should sum to 1).
        encode: the tokenizer's canonical encoding.
        vocab_size: number of token ids (EOS included).
        eos_id: the id appended after every string.
    """

    def __init__(
        self, strings: Mapping[bytes, float], encode: Callable[[bytes], list[int]], vocab_size: int, eos_id: int
    ) -> None:
        self.vocab_size = vocab_size
        self.eos_id: int | None = eos_id
        self.forward_calls = 0
        self._mass: dict[tuple[int, ...], float] = defaultdict(float)
        self._children: dict[tuple[int, ...], dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for text, probability in strings.items():
            ids = (*encode(text), eos_id)
            for k in range(len(ids) + 1):
                self._mass[ids[:k]] += probability
            for k in range(len(ids)):
                self._children[ids[:k]][ids[k]] += probability

    def next_token_logprobs(self, prefixes: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``log P_tok(prefix)`` and ``log P(t | prefix)``; see `TokenLM`."""
        self.forward_calls += len(prefixes)
        prefix_lp = np.full(len(prefixes), -np.inf)
        rows = np.full((len(prefixes), self.vocab_size), -np.inf)
        for row, prefix in enumerate(prefixes):
            key = tuple(prefix)
            mass = self._mass.get(key, 0.0)
            if mass <= 0.0:
                continue
            prefix_lp[row] = np.log(mass)
            children = self._children.get(key, {})
            ids = np.fromiter(children.keys(), dtype=np.int64, count=len(children))
            masses = np.fromiter(children.values(), dtype=np.float64, count=len(children))
            rows[row, ids] = np.log(masses) - np.log(mass)
        return prefix_lp, rows


def markov_strings(
    alphabet: bytes, length: int, *, order: int = 2, seed: int = 0
) -> tuple[dict[bytes, float], Callable[[bytes], np.ndarray]]:
    """All strings of one length from a random order-``order`` Markov chain, with their probabilities.

    The chain starts with a uniform history and draws each row of transition probabilities from a flat
    Dirichlet (seeded). Used by the exactness test and benchmark.

    Returns:
        ``(strings, transition)``: probability of every string of ``length`` symbols, and
        ``transition(history)``: the distribution of the next symbol given the last ``order`` symbols of a
        string (a shorter history at the start).
    """
    rng = np.random.default_rng(seed)
    size = len(alphabet)
    index = {b: k for k, b in enumerate(alphabet)}
    tables = [rng.dirichlet(np.ones(size), size=size ** k) for k in range(order + 1)]

    def transition(history: bytes) -> np.ndarray:
        history = history[-order:] if order else b""
        row = 0
        for b in history:
            row = row * size + index[b]
        out: np.ndarray = tables[len(history)][row]
        return out

    strings: dict[bytes, float] = {b"": 1.0}
    for _ in range(length):
        grown: dict[bytes, float] = {}
        for text, probability in strings.items():
            probs = transition(text)
            for k, b in enumerate(alphabet):
                grown[text + bytes([b])] = probability * probs[k]
        strings = grown
    return strings, transition


def markov_texts(symbols: Sequence[bytes], max_symbols: int, *, seed: int = 0) -> dict[bytes, float]:
    """All texts of a random order-1 Markov chain over multi-byte ``symbols`` with a stop symbol, and their probabilities.

    Each row of transition probabilities (over the symbols and "stop") is drawn from a flat Dirichlet (seeded);
    a text stops at ``max_symbols`` symbols at the latest. The empty text has positive probability, and symbols
    may be multi-byte UTF-8 characters, so the byte-level walk visits states inside a character.
    """
    rng = np.random.default_rng(seed)
    size = len(symbols)
    rows = rng.dirichlet(np.ones(size + 1), size=size + 1)  # row `size` is the start state; column `size` stops
    texts: dict[bytes, float] = {}
    frontier: list[tuple[bytes, int, float]] = [(b"", size, 1.0)]
    for depth in range(max_symbols + 1):
        grown = []
        for text, last, probability in frontier:
            if depth == max_symbols:
                texts[text] = texts.get(text, 0.0) + probability
                continue
            texts[text] = texts.get(text, 0.0) + probability * rows[last][size]
            grown += [(text + symbol, k, probability * rows[last][k]) for k, symbol in enumerate(symbols)]
        frontier = grown
    return texts


def next_byte_truth(strings: Mapping[bytes, float]) -> Callable[[bytes], np.ndarray]:
    """The exact next-byte distribution (257 outcomes, EOS last) of a finite distribution over byte strings.

    Returns:
        ``truth(prefix)``; all zeros for a prefix of probability 0.
    """
    mass: dict[bytes, float] = defaultdict(float)
    for text, probability in strings.items():
        for k in range(len(text) + 1):
            mass[text[:k]] += probability

    def truth(prefix: bytes) -> np.ndarray:
        out = np.zeros(257)
        total = mass.get(prefix, 0.0)
        if total <= 0.0:
            return out
        for b in range(256):
            out[b] = mass.get(prefix + bytes([b]), 0.0)
        out[256] = strings.get(prefix, 0.0)
        return out / total

    return truth


def naive_next_byte(lm: TokenLM, adapter: TokenizerAdapter, prefix: bytes | str) -> np.ndarray:
    """The usual, biased estimate: the first-byte marginal of ``P(next token | encode(prefix))`` (257 outcomes).

    It conditions on a token boundary right after ``prefix``, which the bytes do not imply (Phan et al., arXiv
    2406.16829); `ByteSampler.next_byte_probs` is the exact counterpart. All zeros when the model gives
    ``encode(prefix)`` probability 0 (it can: under maximum-prefix encoding ``encode(prefix)`` need not begin the
    encoding of any longer string).
    """
    data = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
    _, rows = lm.next_token_logprobs([adapter.encode(adapter.text_prefix + data)])
    table, lengths = adapter.byte_table
    row = np.exp(rows[0][: len(lengths)])
    has = lengths > 0
    out = np.bincount(table[has, 0].astype(np.int64), weights=row[has], minlength=EOS + 1)
    if lm.eos_id is not None:
        out[EOS] += np.exp(rows[0][lm.eos_id])
    total = out.sum()
    return out / total if total > 0 else out
