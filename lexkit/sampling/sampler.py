"""Exact next-byte distributions from a tokenized LM: cover encodings and an incremental state.

Theory (Phan et al., "Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks and Model
Ensembles", arXiv 2410.09303; the Byte-Token Representation lemma): for a deterministic tokenizer and a token
process with no mass on non-canonical sequences, ``P(X starts with x)`` is the sum of ``P_tok(T starts with c)``
over the *covers* ``c`` of ``x``: canonical sequences whose tokens before the last decode to a proper prefix of ``x``
and whose decoded bytes start with ``x``. By prefix closure every cover is ``encode(x[:i]) + [t]`` with the bytes of
``t`` starting with ``x[i:]``. Conditioning on ``encode(x)`` instead ("naive" prompting) assumes a token boundary
right after ``x`` and is biased (Phan et al., arXiv 2406.16829).

`ByteState` keeps the *frontier* after ``n`` bytes: every canonical sequence whose last token starts at or before
``n`` and runs past it, with its log-probability. The next byte's weights group the frontier by the byte each last
token puts at position ``n`` (plus EOS after the canonical encoding ``T_n``); pushing a byte filters the frontier and
extends ``T_{n+1}`` by one model call. Everything is in log space; only ratios matter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import numpy as np

from lexkit.errors import LexkitError
from lexkit.sampling.adapter import TokenizerAdapter
from lexkit.sampling.lm import TokenLM

__all__ = ["EOS", "ByteModel", "ByteSampler", "ByteState", "generate_from", "sample_byte"]

logger = logging.getLogger(__name__)

EOS = 256
Init = Literal["exact", "naive", "healing"]
S = TypeVar("S")


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -np.inf
    top = float(values.max())
    if top == -np.inf:
        return -np.inf
    return top + float(np.log(np.exp(values - top).sum()))


@dataclass
class ByteState:
    """The cover frontier after some bytes; created by `ByteSampler.start`, advanced by `ByteSampler.push`.

    Attributes:
        data: the bytes so far.
        canonical: ``T_n = encode(data)``.
        canonical_logprob: ``log P_tok(T_n)``.
        starts, tokens, logprobs: the frontier, one entry per canonical sequence ``encode(data[:start]) + [token]``
            whose token runs past ``len(data)``; ``logprobs`` is its log-probability.
        eos_logprob: ``log P_tok(T_n + [EOS])``.
        prefix_logprob: ``log P(X starts with data)`` by the BTR lemma (sum over the covers of ``data``).
        lefts, left_ids: the token prefix of each frontier entry is ``lefts[left_ids[k]]`` (``encode(data[:start])``
            for the exact method).
        init: how the state began (`ByteSampler.start`); the baselines never mask and extend the likeliest sequence
            that ends at each byte instead of ``T_n``.
        unchecked: probability mass (relative to ``P(X starts with data)``) of the next tokens that were kept
            without a canonicality check (below ``mask_floor``) when ``T_n`` was extended: an error bar for this
            step (0 when exact).
        skip: how many leading bytes of ``data`` are the tokenizer's `TokenizerAdapter.text_prefix` (the
            SentencePiece dummy-prefix space); ``data`` is the tokenizer's byte stream, `text` the user's.
    """

    data: bytes
    canonical: list[int]
    canonical_logprob: float
    starts: np.ndarray
    tokens: np.ndarray
    logprobs: np.ndarray
    eos_logprob: float
    prefix_logprob: float
    unchecked: float = 0.0
    lefts: list[list[int]] = field(default_factory=list)
    left_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    init: Init = "exact"
    skip: int = 0

    @property
    def text(self) -> bytes:
        """The text so far, without the tokenizer's text prefix."""
        return self.data[self.skip:]

    def copy(self) -> ByteState:
        """An independent copy (a fork: push different bytes onto each)."""
        return ByteState(self.data, list(self.canonical), self.canonical_logprob, self.starts.copy(),
                         self.tokens.copy(), self.logprobs.copy(), self.eos_logprob, self.prefix_logprob, self.unchecked,
                         list(self.lefts), self.left_ids.copy(), self.init, self.skip)


class ByteSampler:
    """A byte-level LM made from a token-level LM and its tokenizer, without training.

    Prompts, outputs and log-probabilities are about the user's text; an adapter's `TokenizerAdapter.text_prefix`
    (SentencePiece's dummy-prefix space) is added internally and never generated.

    Args:
        lm: the token model (`lexkit.sampling.TokenLM`: `HFCausalLM` or your own; the tests use an exact oracle).
        adapter: the tokenizer's byte view; its ids must match the model's.
        mask_invalid: drop next tokens that make the sequence non-canonical (default). This makes the result
            exact for a model that is a distribution over canonical sequences and costs one re-encoding of the
            tail per candidate token. ``False`` trusts the model (faster, not exact): non-canonical last tokens
            are kept, but of the sequences that end exactly at the current byte only ``T_n`` is extended.
        mask_floor: candidate next tokens with probability below this are kept without a canonicality check
            (0 checks every token: exact). Their mass bounds the error; each state reports it as ``unchecked``.
            Checking costs one re-encoding of the tail per token, so a real vocabulary (49k tokens) wants about
            1e-6 here; the check is never skipped for likelier tokens.

    Raises:
        LexkitError: the tokenizer has more ids than the model predicts (a mismatched pair). An adapter with
            fewer ids is padded (models often have spare embedding rows).
    """

    def __init__(
        self, lm: TokenLM, adapter: TokenizerAdapter, *, mask_invalid: bool = True, mask_floor: float = 0.0
    ) -> None:
        if len(adapter) < lm.vocab_size:
            adapter = adapter.padded(lm.vocab_size)
        elif len(adapter) > lm.vocab_size:
            raise LexkitError(
                f"the tokenizer has {len(adapter)} ids but the model predicts only {lm.vocab_size}, so some tokens "
                "have no probability; pair the model with the tokenizer it was trained with"
            )
        self.lm = lm
        self.adapter = adapter
        self.mask_invalid = mask_invalid
        self.mask_floor = mask_floor
        self._table, self._lengths = adapter.byte_table
        self._first = np.where(self._lengths > 0, self._table[:, 0], -1)
        self._first_bytes = sorted({int(b) for b in self._first if b >= 0})

    # ----------------------------------------------------------------------------------------------------------
    # incremental interface
    def start(self, prompt: bytes | str, *, init: Init = "exact") -> ByteState:
        """The state after ``prompt``.

        Args:
            prompt: the text so far (``str`` is UTF-8 encoded).
            init: ``"exact"`` sums over all covers of the prompt; ``"naive"`` conditions on ``encode(prompt)``
                (assumes a token boundary after the prompt, as plain token-level prompting does);
                ``"healing"`` backs off the last token of ``encode(prompt)`` and allows every next token that
                starts with the removed bytes (token healing). After the prompt the exact method stays exact;
                the two baselines trust the model (no masking) and continue from the likeliest token sequence
                that ends at each byte, as token-level decoding would.
        """
        text = prompt.encode("utf-8") if isinstance(prompt, str) else bytes(prompt)
        skip = len(self.adapter.text_prefix)
        data = self.adapter.text_prefix + text
        n = len(data)
        canonical = self.adapter.encode(data)
        init = init if text else "exact"
        if n == 0 or init == "naive":
            canonical_lp = float(self.lm.next_token_logprobs([canonical])[0][0])
            empty = np.zeros(0, dtype=np.int64)
            state = ByteState(data, canonical, canonical_lp, empty, empty.copy(), np.zeros(0), -np.inf,
                              canonical_lp if n else 0.0, init=init, skip=skip)
            self._extend(state, check=self.mask_invalid and state.init == "exact")
            return state
        if init == "healing":
            positions = [n - len(self.adapter.token_bytes[canonical[-1]] or b"")]
        else:
            lo = self.adapter.final_boundary(data)
            lo = max(0, n - self.adapter.max_token_bytes) if lo >= n else max(lo, n - self.adapter.max_token_bytes)
            positions = list(range(lo, n))
        lefts = [self.adapter.encode(data[:i]) for i in positions]
        if init == "exact" and self.mask_invalid and self.adapter.lookahead:
            # subtle: the left part of a token starting at i depends on the byte there (pre-tokenization lookahead)
            lefts = [self.adapter.lefts_by_first_byte(left, [data[i]]).get(data[i], left)
                     for i, left in zip(positions, lefts)]
        prefix_lps, rows = self.lm.next_token_logprobs(lefts)
        starts, tokens, logprobs, left_ids = [], [], [], []
        for k, (i, left, prefix_lp, row) in enumerate(zip(positions, lefts, prefix_lps, rows)):
            candidates = self.adapter.tokens_with_prefix(data[i:])
            candidates = candidates[np.isfinite(row[candidates])] if prefix_lp > -np.inf else candidates[:0]
            if self.mask_invalid and init == "exact":
                candidates = candidates[self.adapter.valid_extensions(left, candidates)]
            starts.append(np.full(len(candidates), i, dtype=np.int64))
            left_ids.append(np.full(len(candidates), k, dtype=np.int64))
            tokens.append(candidates)
            logprobs.append(prefix_lp + row[candidates])
        state = ByteState(data, canonical, -np.inf, np.concatenate(starts), np.concatenate(tokens),
                          np.concatenate(logprobs), -np.inf, -np.inf, lefts=lefts,
                          left_ids=np.concatenate(left_ids), init=init, skip=skip)
        state.prefix_logprob = _logsumexp(state.logprobs)
        self._settle(state, check=self.mask_invalid and init == "exact")
        if skip and not text:
            # subtle: the empty text is encoded as no token at all (the dummy prefix goes only before text),
            # so its end is P(EOS | no token), and the prefix's covers miss exactly that mass.
            _, rows = self.lm.next_token_logprobs([[]])
            eos = self.lm.eos_id
            state.eos_logprob = float(rows[0][eos]) if eos is not None else -np.inf
            state.prefix_logprob = float(np.logaddexp(state.prefix_logprob, state.eos_logprob))
        return state

    def next_byte_logprobs(self, state: ByteState) -> np.ndarray:
        """Log-probabilities of the 257 outcomes after ``state``: bytes 0..255 and EOS (index 256)."""
        offsets = len(state.data) - state.starts
        next_bytes = self._table[state.tokens, offsets].astype(np.int64)
        top = max(float(state.logprobs.max(initial=-np.inf)), state.eos_logprob)
        if top == -np.inf:
            raise LexkitError(
                f"the model gives probability 0 to every continuation of {state.data[-20:]!r}, so no next byte "
                "has a distribution; check that the model and tokenizer match (or pass mask_invalid=False)"
            )
        weights = np.bincount(next_bytes, weights=np.exp(state.logprobs - top), minlength=EOS + 1)
        weights[EOS] += np.exp(state.eos_logprob - top)
        with np.errstate(divide="ignore"):
            out: np.ndarray = np.log(weights) - np.log(weights.sum())
        return out

    def push(self, state: ByteState, byte: int) -> ByteState:
        """The state after one more byte (a new object; ``state`` is unchanged). About one model call."""
        if not 0 <= byte < 256:
            raise LexkitError(f"push got {byte!r}; bytes are integers 0..255 (EOS ends the text and cannot be pushed)")
        n = len(state.data)
        keep = self._table[state.tokens, n - state.starts] == byte
        data = state.data + bytes([byte])
        new = ByteState(data, self.adapter.encode(data) if state.init == "exact" else [], -np.inf,
                        state.starts[keep], state.tokens[keep], state.logprobs[keep], -np.inf, -np.inf,
                        lefts=state.lefts, left_ids=state.left_ids[keep], init=state.init, skip=state.skip)
        new.prefix_logprob = _logsumexp(new.logprobs)
        self._settle(new, check=self.mask_invalid and state.init == "exact")
        return new

    # ----------------------------------------------------------------------------------------------------------
    # internals
    def _settle(self, state: ByteState, *, check: bool) -> None:
        """Take the canonical cover (empty remainder) out of the frontier and extend it by one token."""
        n = len(state.data)
        ended = state.starts + self._lengths[state.tokens] == n
        if state.init == "exact":
            last = state.canonical[-1] if state.canonical else -1
            matches = [k for k in np.flatnonzero(ended & (state.tokens == last)).tolist()
                       if state.lefts[state.left_ids[k]] == state.canonical[:-1]]
            hit = np.array(matches[:1], dtype=np.int64)
        else:  # baselines: follow the likeliest sequence that ends here
            hit = np.flatnonzero(ended)
            hit = hit[np.argmax(state.logprobs[hit]):][:1] if hit.size else hit
            if hit.size:
                state.canonical = [*state.lefts[state.left_ids[hit[0]]], int(state.tokens[hit[0]])]
        state.canonical_logprob = float(state.logprobs[hit[0]]) if hit.size else -np.inf
        state.starts, state.tokens, state.logprobs = state.starts[~ended], state.tokens[~ended], state.logprobs[~ended]
        state.left_ids = state.left_ids[~ended]
        self._extend(state, check=check)

    def _extend(self, state: ByteState, *, check: bool) -> None:
        """Add every canonical sequence whose last token starts right after ``data`` (all of them unless ``check``).

        Their left part is ``T_n`` except where pre-tokenization re-splits the tail for the next byte (see
        `TokenizerAdapter.lefts_by_first_byte`; only adapters with a ``lookahead`` can re-split); each other
        left part costs one more model call (rare: runs of whitespace before a non-space).
        """
        if state.canonical_logprob == -np.inf:
            state.eos_logprob = -np.inf
            return
        _, rows = self.lm.next_token_logprobs([state.canonical])
        row = rows[0]
        eos = self.lm.eos_id
        state.eos_logprob = state.canonical_logprob + (row[eos] if eos is not None else -np.inf)
        groups: list[tuple[list[int], float, np.ndarray, np.ndarray]] = []  # (left, log P(left), row, tokens)
        has_bytes = self._lengths > 0
        if check and self.adapter.lookahead:
            by_byte = self.adapter.lefts_by_first_byte(state.canonical, self._first_bytes)
            others: dict[tuple[int, ...], list[int]] = {}
            for b, left in by_byte.items():
                if left != state.canonical:
                    others.setdefault(tuple(left), []).append(b)
            moved = np.isin(self._first, [b for group in others.values() for b in group])
            groups.append((state.canonical, state.canonical_logprob, row, has_bytes & ~moved))
            if others:
                keys = list(others)
                left_lps, left_rows = self.lm.next_token_logprobs([list(k) for k in keys])
                for key, left_lp, left_row in zip(keys, left_lps, left_rows):
                    groups.append((list(key), float(left_lp), left_row, np.isin(self._first, others[key])))
        else:
            groups.append((state.canonical, state.canonical_logprob, row, has_bytes))
        unchecked = 0.0
        for left, left_lp, left_row, allowed in groups:
            candidates = np.flatnonzero(allowed & np.isfinite(left_row))
            if check:
                checked = (left_row[candidates] >= np.log(self.mask_floor) if self.mask_floor > 0
                           else np.ones(len(candidates), dtype=bool))
                unchecked += float(np.exp(left_lp + left_row[candidates[~checked]] - state.prefix_logprob).sum())
                valid = np.ones(len(candidates), dtype=bool)
                valid[checked] = self.adapter.valid_extensions(left, candidates[checked])
                candidates = candidates[valid]
            state.starts = np.concatenate([state.starts, np.full(len(candidates), len(state.data), dtype=np.int64)])
            state.left_ids = np.concatenate([state.left_ids,
                                             np.full(len(candidates), len(state.lefts), dtype=np.int64)])
            state.lefts = [*state.lefts, list(left)]
            state.tokens = np.concatenate([state.tokens, candidates])
            state.logprobs = np.concatenate([state.logprobs, left_lp + left_row[candidates]])
        state.unchecked = unchecked

    def covers(self, state: ByteState) -> list[list[int]]:
        """The cover encodings of ``state.data`` (text prefix included) with positive probability.

        Only canonical ones when masking. They are ``lefts[left_id] + [token]`` for the frontier entries that
        start before the end, plus ``T_n`` itself; the frontier entries that start at the end are extensions.
        """
        n = len(state.data)
        out = [[*state.lefts[left], token]
               for start, left, token in zip(state.starts.tolist(), state.left_ids.tolist(), state.tokens.tolist())
               if start < n]
        if state.canonical_logprob > -np.inf and n:
            out.append(list(state.canonical))
        return out

    # ----------------------------------------------------------------------------------------------------------
    # convenience
    def next_byte_probs(self, prefix: bytes | str, *, init: Init = "exact") -> np.ndarray:
        """``P(next = b | prefix)`` for the 257 outcomes (bytes 0..255, EOS at index 256)."""
        probs: np.ndarray = np.exp(self.next_byte_logprobs(self.start(prefix, init=init)))
        return probs

    def logprob(self, text: bytes | str, *, prompt: bytes | str = b"") -> float:
        """Byte-level ``log P(X starts with prompt + text) - log P(X starts with prompt)``, in nats.

        Computed incrementally (one model call per byte of ``text``); with an empty prompt it is the BTR prefix
        probability of ``text``, the sum over its covers.
        """
        state = self.start(prompt)
        base = state.prefix_logprob
        for byte in text.encode("utf-8") if isinstance(text, str) else text:
            state = self.push(state, byte)
        return state.prefix_logprob - base

    def generate(
        self,
        prompt: bytes | str,
        max_bytes: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop: Sequence[bytes] = (),
        seed: int = 0,
        init: Init = "exact",
    ) -> bytes:
        """Sample up to ``max_bytes`` bytes after ``prompt``, one byte at a time.

        Temperature applies to the *byte* distribution (``p ** (1 / T)`` renormalized), then top-k and top-p;
        this differs from token-level temperature, which sharpens whole tokens. ``temperature=0`` is greedy.
        Generation stops at EOS, after ``max_bytes`` bytes, or when the output ends with a ``stop`` string.

        Returns:
            The generated bytes (not including the prompt).
        """
        return generate_from(self, self.start(prompt, init=init), max_bytes, temperature=temperature, top_k=top_k,
                             top_p=top_p, stop=stop, seed=seed)


class ByteModel(Protocol[S]):
    """Anything that walks a byte string one byte at a time: `ByteSampler`, `lexkit.sampling.ByteEnsemble`."""

    def next_byte_logprobs(self, state: S) -> np.ndarray:
        """Log-probabilities of the 257 outcomes after ``state`` (EOS at index 256)."""
        ...

    def push(self, state: S, byte: int) -> S:
        """The state after one more byte."""
        ...


def generate_from(
    model: ByteModel[S],
    state: S,
    max_bytes: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop: Sequence[bytes] = (),
    seed: int = 0,
) -> bytes:
    """Sample up to ``max_bytes`` bytes from ``model`` after ``state``; see `ByteSampler.generate`."""
    rng = np.random.default_rng(seed)
    out = bytearray()
    while len(out) < max_bytes:
        choice = sample_byte(model.next_byte_logprobs(state), rng, temperature=temperature, top_k=top_k,
                             top_p=top_p)
        if choice == EOS:
            break
        out.append(choice)
        if any(out.endswith(s) for s in stop):
            break
        state = model.push(state, choice)
    return bytes(out)


def sample_byte(
    logprobs: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> int:
    """Draw one of the 257 outcomes from byte log-probabilities with temperature, top-k and top-p.

    Raises:
        LexkitError: a negative temperature or a top-p outside (0, 1].
    """
    if temperature < 0 or (top_p is not None and not 0 < top_p <= 1):
        raise LexkitError(
            f"got temperature={temperature} and top_p={top_p}; temperature must be >= 0 and top_p in (0, 1], "
            "because they reshape a probability distribution; pass e.g. temperature=0.7, top_p=0.9"
        )
    if temperature == 0:
        return int(np.argmax(logprobs))
    scaled = logprobs / temperature
    probs = np.exp(scaled - scaled.max())
    order = np.argsort(-probs, kind="stable")
    if top_k is not None:
        probs[order[top_k:]] = 0.0
    if top_p is not None:
        cumulative = np.cumsum(probs[order]) / probs.sum()
        cut = int(np.searchsorted(cumulative, top_p)) + 1
        probs[order[cut:]] = 0.0
    return int(rng.choice(len(probs), p=probs / probs.sum()))
