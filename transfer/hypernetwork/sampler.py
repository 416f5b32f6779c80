"""Random target tokenizers for hypernetwork training (ZeTT's sampler).

Every training step sees a new UnigramLM tokenizer, so the hypernetwork learns to embed tokens of vocabularies
it has never seen. Pieces come from substring statistics of recent training text: each batch adds a table of
byte-level substrings (every ``stride``-th start of each pre-token, lengths 1 to ``max_piece_bytes``, weighted
by frequency x length) to a fixed-length queue; a sample draws one noise scale from a log-normal, perturbs the
merged probabilities with Gaussian noise of that scale, and keeps the top-scoring substrings. The noise spans
about ten orders of magnitude across draws, so some vocabularies follow the frequencies closely and others are
almost random. No torch here: the sampler is pure Python plus HF ``tokenizers``.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lexkit.errors import LexkitError
from lexkit.formats import surface as bu

if TYPE_CHECKING:
    import tokenizers

__all__ = ["SampledTokenizer", "TokenizerSampler"]

# Byte-level surface forms of whitespace runs (space, newline, tab); ZeTT adds runs of each as free pieces.
_WHITESPACE = ("Ġ", "Ċ", "ĉ")
_WHITESPACE_RUN = 8
_EXCLUDED_SCORE = -1e5  # the log-probability ZeTT gives a substring whose noised probability is not positive


@dataclass(frozen=True)
class SampledTokenizer:
    """One sampled vocabulary: byte-level surface pieces (id = position) and the HF tokenizer that uses them.

    Attributes:
        pieces: byte-level surface strings (GPT-2 byte-to-unicode characters), one per token id.
        backend: a ``tokenizers.Tokenizer`` (Unigram model, byte-level pre-tokenizer and decoder).
        noise_scale: the sigma drawn for this sample (for logging).
    """

    pieces: tuple[str, ...]
    backend: tokenizers.Tokenizer
    noise_scale: float

    def __len__(self) -> int:
        return len(self.pieces)

    def content(self, token_id: int) -> bytes:
        """The exact bytes of token ``token_id``."""
        content = bu.decode_surface(self.pieces[token_id])
        assert content is not None, "sampled pieces are built from byte-level characters only"
        return content

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (no special tokens)."""
        return [encoding.ids for encoding in self.backend.encode_batch(texts, add_special_tokens=False)]


class TokenizerSampler:
    """Samples UnigramLM tokenizers from noised substring frequencies of recent text.

    Args:
        vocab_size: pieces per sampled tokenizer (bytes and whitespace runs included).
        queue_size: substring tables (one per `add` call) kept; the oldest is dropped.
        max_piece_bytes: longest substring in bytes (ZeTT: 15).
        stride: substrings start at every ``stride``-th character of a pre-token (ZeTT: 4).
        noise_mean: the log-normal's mean of ln sigma is ``ln(noise_mean)`` (ZeTT: 1e-5).
        noise_sigma: the log-normal's sigma (ZeTT: 4).

    Raises:
        LexkitError: vocab_size cannot hold the 256 bytes and whitespace pieces, or another option is invalid.
    """

    def __init__(self, vocab_size: int, *, queue_size: int = 64, max_piece_bytes: int = 15, stride: int = 4,
                 noise_mean: float = 1e-5, noise_sigma: float = 4.0) -> None:
        reserved = 256 + len(_WHITESPACE) * (_WHITESPACE_RUN - 1)
        if vocab_size <= reserved:
            raise LexkitError(
                f"sample_vocab_size={vocab_size} leaves no room for substrings: {reserved} pieces are reserved for "
                f"the 256 bytes and whitespace runs; pass a larger size (e.g. 8192)"
            )
        for name, value in (("queue_size", queue_size), ("max_piece_bytes", max_piece_bytes), ("stride", stride)):
            if value < 1:
                raise LexkitError(f"{name}={value} is invalid; pass a positive integer")
        if noise_mean <= 0:
            raise LexkitError(f"noise_mean={noise_mean} is the median noise scale; pass a positive number")
        self.vocab_size = vocab_size
        self.max_piece_bytes = max_piece_bytes
        self.stride = stride
        self.noise_mean = noise_mean
        self.noise_sigma = noise_sigma
        self._queue: deque[Counter[str]] = deque(maxlen=queue_size)
        self._merged: Counter[str] = Counter()
        self._splitter = _byte_level_splitter()
        self._fixed = [bu.encode_surface(bytes([b])) for b in range(256)]
        self._fixed += [char * n for char in _WHITESPACE for n in range(2, _WHITESPACE_RUN + 1)]

    def substring_table(self, texts: Iterable[str]) -> Counter[str]:
        """Frequency x byte length of the byte-level substrings of ``texts`` (each pre-token with a leading space)."""
        table: Counter[str] = Counter()
        longest = self.max_piece_bytes
        for text in texts:
            for word, _ in self._splitter.pre_tokenize_str(" " + text):
                for start in range(0, len(word), self.stride):
                    for end in range(start + 1, min(start + longest, len(word)) + 1):
                        table[word[start:end]] += end - start  # one surface character = one byte
        return table

    def add(self, texts: Iterable[str]) -> None:
        """Push the substring table of ``texts`` onto the queue (dropping the oldest when full)."""
        table = self.substring_table(texts)
        if len(self._queue) == self._queue.maxlen:
            self._merged.subtract(self._queue[0])
            self._merged = +self._merged  # drop entries that fell to zero
        self._queue.append(table)
        self._merged.update(table)

    def sample(self, rng: np.random.Generator) -> SampledTokenizer:
        """Draw one tokenizer: noise scale, noised log-probabilities, the top pieces, a Unigram model.

        Raises:
            LexkitError: no text was added yet.
        """
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        if not self._merged:
            raise LexkitError("the tokenizer sampler has no substring statistics yet; call add(texts) first")
        fixed = set(self._fixed)
        candidates = [s for s in self._merged if s not in fixed]
        counts = np.fromiter((self._merged[s] for s in candidates), dtype=np.float64, count=len(candidates))
        total = float(sum(self._merged.values()))
        probabilities = counts / total
        sigma = float(rng.lognormal(math.log(self.noise_mean), self.noise_sigma))
        noised = probabilities + rng.normal(0.0, sigma, size=len(probabilities))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.where(noised > 0, np.log(np.maximum(noised, 1e-300)), _EXCLUDED_SCORE)
        room = self.vocab_size - len(self._fixed)
        order = np.argsort(-log_p, kind="stable")[:room]
        byte_score = float(np.log(probabilities.min())) if len(probabilities) else -20.0
        vocab = [(piece, byte_score) for piece in self._fixed[:256]]
        vocab += [(piece, 0.0) for piece in self._fixed[256:]]
        vocab += [(candidates[i], float(log_p[i])) for i in order]
        backend = Tokenizer(models.Unigram(vocab, unk_id=None, byte_fallback=False))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        backend.decoder = decoders.ByteLevel()
        return SampledTokenizer(tuple(piece for piece, _ in vocab), backend, sigma)


def _byte_level_splitter() -> Any:
    """GPT-2-style pre-tokenization into byte-level surface strings."""
    from tokenizers import pre_tokenizers

    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
