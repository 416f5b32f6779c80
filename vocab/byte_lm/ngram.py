"""A smoothed byte n-gram LM, numpy only: ByteSpan's default signal source (arXiv 2506.18639).

Witten-Bell interpolation (Witten & Bell 1991; as in SRILM's ``-wbdiscount -interpolate``): with ``N(c)`` the
count of context ``c`` and ``T(c)`` the number of distinct bytes seen after it,
``p(b | c) = (count(c, b) + T(c) * p(b | c')) / (N(c) + T(c))``, where ``c'`` drops the oldest byte of ``c``;
order 0 is add-one smoothed over the 256 bytes, so every byte has a probability. It has no parameter to tune,
which suits a model trained on whatever corpus the user gives.

Why it is fast: every n-gram is one int64 key (context bytes packed, most recent byte lowest, then the next
byte), each order is a sorted key array with one probability per entry, and scoring is one ``searchsorted``
per order over all positions. Entropy needs the whole next-byte distribution, but for an interpolated model it
follows from the lower order's entropy plus corrections over the bytes actually seen after ``c``:
``sum_b p log p = S_seen + mu * log(mu) * (1 - Q_seen) + mu * (negH(c') - R_seen)`` with ``mu = T/(N+T)``,
``S_seen`` the sum of ``p log p`` over seen bytes, ``Q_seen``/``R_seen`` the sums of ``q``/``q log q`` of the
lower-order probabilities ``q`` of those bytes. So each context's entropy costs O(distinct followers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from lexkit.errors import ByteLMError
from lexkit.vocab.byte_lm import ByteSignals

__all__ = ["NGRAM_FILE", "NgramByteLM"]

NGRAM_FILE = "ngram_byte_lm.npz"
MAX_ORDER = 7  # (order - 1) context bytes + the next byte + a sign bit must fit in an int64 key


@dataclass(frozen=True)
class _Order:
    """The tables of one context length k >= 1 (all arrays sorted by key)."""

    joint: np.ndarray  # (E,) int64: context << 8 | byte
    log_prob: np.ndarray  # (E,) float64: ln p(byte | context)
    contexts: np.ndarray  # (C,) int64
    log_mu: np.ndarray  # (C,) float64: ln T / (N + T), the back-off weight
    neg_entropy: np.ndarray  # (C,) float64: sum_b p ln p


def _find(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each query in the sorted array ``keys``."""
    index = np.searchsorted(keys, queries)
    clipped = np.minimum(index, max(keys.size - 1, 0))
    found = (index < keys.size) & (keys[clipped] == queries) if keys.size else np.zeros(queries.shape, bool)
    return clipped, found


def _stream(texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All texts as one uint8 array, each byte's position inside its text, and the text offsets."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    data = np.frombuffer(b"".join(texts), dtype=np.uint8).astype(np.int64)
    position = np.arange(data.size, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    return data, position, offsets


def _contexts(data: np.ndarray, k: int, previous: np.ndarray | None) -> np.ndarray:
    """Context keys of length k at every position (garbage where the position is < k inside its text)."""
    out = np.zeros_like(data) if previous is None else previous.copy()
    if k <= data.size:
        out[k:] |= data[:-k] << (8 * (k - 1))
    return out


class NgramByteLM:
    """Witten-Bell interpolated byte n-gram model.

    >>> lm = NgramByteLM.train([b"abababab"] * 20, order=3)
    >>> signals = lm.score([b"abab"])[0]
    >>> bool(signals.surprisal[3] < signals.surprisal[0])  # 'b' after 'a' is predictable, the first 'a' is not
    True
    """

    name = "ngram"

    def __init__(self, order: int, unigram_log_prob: np.ndarray, tables: Sequence[_Order]) -> None:
        self.order = order
        self.unigram_log_prob = unigram_log_prob
        self.unigram_neg_entropy = float(np.sum(np.exp(unigram_log_prob) * unigram_log_prob))
        self.tables = list(tables)

    def __repr__(self) -> str:
        return f"NgramByteLM(order={self.order}, contexts={sum(t.contexts.size for t in self.tables)})"

    @classmethod
    def train(cls, texts: Iterable[bytes], *, order: int = 5) -> NgramByteLM:
        """Count the n-grams of ``texts`` (each text is its own context: no n-gram crosses two texts).

        Args:
            texts: training byte strings.
            order: n, the number of bytes in the longest n-gram (context of n - 1 bytes), 1 to 7.

        Raises:
            ByteLMError: ``order`` is outside 1..7.
        """
        if not 1 <= order <= MAX_ORDER:
            raise ByteLMError(f"n-gram order {order} is not supported; pass an order from 1 to {MAX_ORDER}")
        data, position, _ = _stream(list(texts))
        unigram = np.bincount(data, minlength=256).astype(np.float64)
        unigram_prob = (unigram + 1.0) / (unigram.sum() + 256.0)
        lower_log_prob = np.log(unigram_prob)
        tables: list[_Order] = []
        context = None
        for k in range(1, order):
            context = _contexts(data, k, context)
            valid = position >= k
            joint, counts = np.unique((context[valid] << 8) | data[valid], return_counts=True)
            if joint.size == 0:
                break
            entry_context = joint >> 8
            starts = np.flatnonzero(np.concatenate([[True], entry_context[1:] != entry_context[:-1]]))
            contexts = entry_context[starts]
            total = np.add.reduceat(counts, starts).astype(np.float64)
            types = np.diff(np.append(starts, joint.size)).astype(np.float64)
            per_entry = np.repeat(np.arange(contexts.size), types.astype(np.int64))
            # ln q: the probability the next lower order gives each seen (context, byte).
            shorter = (entry_context & ((1 << (8 * (k - 1))) - 1)) if k > 1 else np.zeros_like(entry_context)
            if k == 1:
                lower_log = lower_log_prob[joint & 255]
                lower_neg_entropy = np.full(contexts.size, float(np.sum(unigram_prob * lower_log_prob)))
            else:
                below = tables[-1]
                index, found = _find(below.joint, (shorter << 8) | (joint & 255))
                assert found.all(), "every seen n-gram's shorter n-gram was seen too"
                lower_log = below.log_prob[index]
                context_index, found = _find(below.contexts, contexts & ((1 << (8 * (k - 1))) - 1))
                assert found.all()
                lower_neg_entropy = below.neg_entropy[context_index]
            lower = np.exp(lower_log)
            prob = (counts + types[per_entry] * lower) / (total + types)[per_entry]
            log_prob = np.log(prob)
            mu = types / (total + types)
            seen_plogp = np.add.reduceat(prob * log_prob, starts)
            seen_q = np.minimum(np.add.reduceat(lower, starts), 1.0)
            seen_qlogq = np.add.reduceat(lower * lower_log, starts)
            neg_entropy = seen_plogp + mu * np.log(mu) * (1.0 - seen_q) + mu * (lower_neg_entropy - seen_qlogq)
            tables.append(_Order(joint, log_prob, contexts, np.log(mu), neg_entropy))
        return cls(order, np.log(unigram_prob), tables)

    def score(self, texts: Sequence[bytes]) -> list[ByteSignals]:
        """Surprisal and entropy (nats) of every byte of every text, each text scored from its own start."""
        data, position, offsets = _stream(list(texts))
        # The longest context seen in training at each position (0 = unigram); lower orders exist then too.
        depth = np.zeros(data.size, dtype=np.int64)
        context_keys, context_rows = [], []
        context = None
        for k, table in enumerate(self.tables, start=1):
            context = _contexts(data, k, context)
            rows, found = _find(table.contexts, context)
            context_keys.append(context)
            context_rows.append(rows)
            depth[found & (position >= k)] = k
        entropy = np.full(data.size, -self.unigram_neg_entropy)
        log_prob = np.zeros(data.size)
        backoff = np.zeros(data.size)
        open_ = np.ones(data.size, dtype=bool)
        for k in range(len(self.tables), 0, -1):
            table, rows = self.tables[k - 1], context_rows[k - 1]
            at = depth == k
            entropy[at] = -table.neg_entropy[rows[at]]
            active = np.flatnonzero(open_ & (depth >= k))
            if not active.size:
                continue
            index, found = _find(table.joint, (context_keys[k - 1][active] << 8) | data[active])
            hit = active[found]
            log_prob[hit] = backoff[hit] + table.log_prob[index[found]]
            open_[hit] = False
            miss = active[~found]
            backoff[miss] += table.log_mu[rows[miss]]
        rest = np.flatnonzero(open_)
        log_prob[rest] = backoff[rest] + self.unigram_log_prob[data[rest]]
        surprisal = np.maximum(-log_prob, 0.0)
        entropy = np.maximum(entropy, 0.0)
        return [
            ByteSignals(surprisal[start:end], entropy[start:end])
            for start, end in zip(offsets[:-1], offsets[1:])
        ]

    def save(self, folder: str | PathLike[str]) -> Path:
        """Write the model as ``ngram_byte_lm.npz`` in ``folder`` (atomically); `load_byte_lm` reads it back."""
        import io

        from lexkit.atomic import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {"unigram_log_prob": self.unigram_log_prob}
        for k, table in enumerate(self.tables, start=1):
            for field in ("joint", "log_prob", "contexts", "log_mu", "neg_entropy"):
                arrays[f"{field}_{k}"] = getattr(table, field)
        buffer = io.BytesIO()
        arrays["meta"] = np.frombuffer(json.dumps({"order": self.order}).encode(), dtype=np.uint8)
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return atomic_write_bytes(Path(folder) / NGRAM_FILE, buffer.getvalue())

    @classmethod
    def load(cls, folder: str | PathLike[str]) -> NgramByteLM:
        """Read a model written by `save`.

        Raises:
            ByteLMError: the file is missing or not an n-gram model file.
        """
        path = Path(folder) / NGRAM_FILE
        try:
            with np.load(path) as archive:
                order = int(json.loads(archive["meta"].tobytes())["order"])
                tables = [
                    _Order(*(archive[f"{field}_{k}"] for field in ("joint", "log_prob", "contexts", "log_mu",
                                                                    "neg_entropy")))
                    for k in range(1, order) if f"joint_{k}" in archive
                ]
                return cls(order, archive["unigram_log_prob"], tables)
        except (OSError, KeyError, ValueError) as exc:
            raise ByteLMError(f"{path}: not an n-gram byte LM file ({exc}); write one with NgramByteLM.save") from None
