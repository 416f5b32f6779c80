"""Bits per byte: a tokenizer-independent score for comparing an original and a transplanted model.

Per-token perplexity is not comparable across tokenizers; bits per byte on identical text is.
Every document is cut into the same character chunks for every variant; each chunk is scored as
``prefix + tokenize(chunk)`` with special-token text treated as ordinary text. The prefix is the BOS token, else
the EOS token (the document separator of models trained without BOS, e.g. Qwen2.5's ``<|endoftext|>``), else the
tokens of `TEXT_PREFIX`; it is context only, never scored. So every token of the chunk is predicted and every
byte is scored, whatever the tokenizer: the byte count is the chunk's UTF-8 length for every variant::

    NLL = Σ −ln p(token | prefix + previous tokens)   over the chunk's tokens
    BPB = NLL / (bytes · ln 2)                         per-byte perplexity = exp(NLL / bytes)

Scores are kept per document so differences between variants get paired bootstrap intervals (`compare_bpb`).
Float32 throughout; deterministic chunking.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lexkit.device import resolve_device
from lexkit.encoders import DEFAULT_ENCODER
from lexkit.engine import split_flat
from lexkit.errors import LexkitError
from lexkit.tokenizer import Tokenizer
from lexkit.transfer._models import ModelLike, load_causal_lm, model_tokenizer_source
from lexkit.transfer.methods import check_rows
from lexkit.transfer.tokenizer import TokenizerLike, TransferTokenizer

__all__ = [
    "DEFAULT_SLICE", "TEXT_PREFIX", "DocumentScore", "SliceBPB", "BPBResult", "BPBComparison", "compare_bpb",
    "chunk_text", "evaluate",
]

logger = logging.getLogger(__name__)

DEFAULT_SLICE = "all"
# Context before each chunk for a tokenizer with neither BOS nor EOS: a line break, as between documents.
TEXT_PREFIX = "\n"
_MAX_EXPONENT = 1000.0


@dataclass(frozen=True)
class DocumentScore:
    """Summed negative log-likelihood (nats), scored bytes and scored tokens of one document."""

    nll: float
    n_bytes: int
    n_tokens: int


@dataclass(frozen=True)
class SliceBPB:
    """Scores of one slice (text type) of the evaluation texts."""

    name: str
    documents: tuple[DocumentScore, ...]

    @property
    def nll(self) -> float:
        """Total negative log-likelihood in nats."""
        return sum(d.nll for d in self.documents)

    @property
    def n_bytes(self) -> int:
        """Total scored UTF-8 bytes."""
        return sum(d.n_bytes for d in self.documents)

    @property
    def n_tokens(self) -> int:
        """Total scored tokens."""
        return sum(d.n_tokens for d in self.documents)

    @property
    def bpb(self) -> float:
        """Bits per byte."""
        return self.nll / (max(self.n_bytes, 1) * math.log(2))

    @property
    def byte_perplexity(self) -> float:
        """Per-byte perplexity, ``exp(NLL / bytes)``."""
        return math.exp(self.nll / max(self.n_bytes, 1))

    def to_json(self) -> dict[str, Any]:
        """Summary numbers."""
        return {"bpb": round(self.bpb, 5), "byte_perplexity": round(self.byte_perplexity, 5),
                "bytes": self.n_bytes, "tokens": self.n_tokens, "documents": len(self.documents),
                "bytes_per_token": round(self.n_bytes / max(self.n_tokens, 1), 4)}


@dataclass(frozen=True)
class BPBResult:
    """Bits per byte overall and per slice."""

    slices: dict[str, SliceBPB]

    @property
    def overall(self) -> SliceBPB:
        """All documents of all slices together."""
        return SliceBPB("overall", tuple(d for s in self.slices.values() for d in s.documents))

    @property
    def bpb(self) -> float:
        """Overall bits per byte."""
        return self.overall.bpb

    def to_json(self) -> dict[str, Any]:
        """Overall and per-slice summaries."""
        return {"overall": self.overall.to_json(), "slices": {n: s.to_json() for n, s in self.slices.items()}}


@dataclass(frozen=True)
class BPBComparison:
    """A variant against a baseline on the same documents: ΔBPB, the zero-shot ratio 2^ΔBPB, and a 95 % CI."""

    delta: float
    ratio: float
    low: float
    high: float


def compare_bpb(result: BPBResult, baseline: BPBResult, *, samples: int = 1000,
                seed: int = 0) -> dict[str, BPBComparison]:
    """Paired bootstrap over documents of ``result.bpb - baseline.bpb``, overall and per slice.

    Documents are paired by position, so both results must come from the same texts in the same order (every
    byte is scored, so paired documents have the same byte counts).

    Args:
        result: the variant (e.g. a transplanted model).
        baseline: the reference (e.g. the original model), scored on the same texts.
        samples: bootstrap resamples.
        seed: resampling seed.

    Returns:
        Slice name (and ``"overall"``) -> comparison; the interval is the 2.5th to 97.5th percentile of ΔBPB.

    Raises:
        LexkitError: the two results were not computed on the same documents.
    """
    pairs = {**{n: (s, baseline.slices.get(n)) for n, s in result.slices.items()},
             "overall": (result.overall, baseline.overall)}
    rng = np.random.default_rng(seed)
    out = {}
    for name, (mine, theirs) in pairs.items():
        if theirs is None or len(mine.documents) != len(theirs.documents) or not mine.documents:
            raise LexkitError(
                f"slice {name!r} was scored on different documents in the two results; bits per byte can only be "
                "compared on identical text; evaluate both models on the same texts with the same chunk_chars"
            )
        nll = np.array([[a.nll, b.nll] for a, b in zip(mine.documents, theirs.documents)])
        size = np.array([[a.n_bytes, b.n_bytes] for a, b in zip(mine.documents, theirs.documents)], dtype=float)
        picks = rng.integers(0, len(nll), size=(samples, len(nll)))
        sums_nll, sums_bytes = nll[picks].sum(axis=1), np.maximum(size[picks].sum(axis=1), 1.0)
        deltas = (sums_nll[:, 0] / sums_bytes[:, 0] - sums_nll[:, 1] / sums_bytes[:, 1]) / math.log(2)
        delta = mine.bpb - theirs.bpb
        ratio = 2.0 ** delta if delta < _MAX_EXPONENT else math.inf  # a broken variant can be 1e9 bits worse
        out[name] = BPBComparison(delta, ratio, float(np.percentile(deltas, 2.5)), float(np.percentile(deltas, 97.5)))
    return out


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``chunk_chars`` characters, at the last whitespace when possible.

    A cut falls after the last whitespace in the second half of the window; a window without one is cut hard.
    The same text always gives the same chunks, so every variant scores identical text.
    """
    chunks = []
    start = 0
    while start < len(text):
        stop = min(start + chunk_chars, len(text))
        if stop < len(text):
            window = text[start:stop]
            cut = max(window.rfind(" "), window.rfind("\n"))
            if cut >= chunk_chars // 2:
                stop = start + cut + 1
        chunks.append(text[start:stop])
        start = stop
    return chunks


def evaluate(
    model: ModelLike,
    tokenizer: TokenizerLike | None,
    texts: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    chunk_chars: int = 2000,
    batch_size: int = 4,
    device: str | None = None,
) -> BPBResult:
    """Bits per byte of a causal LM with its tokenizer on held-out texts.

    Args:
        model: a loaded causal LM, an HF folder, or a ``.gguf`` file.
        tokenizer: the model's tokenizer in any form transfer accepts; None loads it from the model's folder.
        texts: documents, or slice name (text type, e.g. ``prose``, ``code``) -> documents.
        chunk_chars: longest chunk in characters; lower it if chunks exceed the model's context.
        batch_size: chunks per forward pass.
        device: ``cpu``, ``cuda`` or ``auto`` moves the model there; None keeps it where it is.

    Returns:
        The `BPBResult` (per-document scores, per slice).

    Raises:
        LexkitError: no texts, a model/tokenizer mismatch, a non-causal model, or a chunk longer than the
            model's context.
    """
    if isinstance(texts, str) or not texts:
        raise LexkitError(
            "texts must be a non-empty list of documents (or a mapping of slice name to documents); a single "
            "string would be scored character by character; pass [text]"
        )
    if chunk_chars < 1:
        raise LexkitError(f"chunk_chars={chunk_chars} must be positive; pass e.g. 2000")
    slices = dict(texts) if isinstance(texts, Mapping) else {DEFAULT_SLICE: list(texts)}
    loaded, path = load_causal_lm(model)
    if tokenizer is None:
        location = model_tokenizer_source(loaded, path)
        if location is None:
            raise LexkitError("the model's tokenizer is unknown; pass tokenizer= (the tokenizer it uses)")
        tokenizer = location
    side = TransferTokenizer.from_any(tokenizer, what="tokenizer")
    rows = loaded.get_input_embeddings().weight.shape[0]
    check_rows(side, rows, what="model's input embedding")
    if device is not None:
        loaded.to(resolve_device(device))
    scorer = _Scorer(loaded, side, batch_size=batch_size)
    result = {}
    for name, documents in slices.items():
        result[name] = SliceBPB(name, scorer.score(documents, chunk_chars))
        logger.info("evaluate: slice %s: %.4f bits per byte", name, result[name].bpb)
    return BPBResult(result)


class _Scorer:
    """Scores chunks with one model and tokenizer."""

    def __init__(self, model: Any, side: TransferTokenizer, *, batch_size: int) -> None:
        self.model = model
        self.hf = side.hf
        # the encoder HF runs for this vocabulary (a recorded LBPE or other encoder would give other ids)
        self.tokenizer: Tokenizer | None = Tokenizer(side.vocabulary, encoder=DEFAULT_ENCODER[side.vocabulary.model])
        self.checked = False
        self.prefix = self._prefix()
        self.context = getattr(model.config, "max_position_embeddings", None)
        self.batch_size = batch_size

    def _prefix(self) -> list[int]:
        """Unscored context before each chunk: BOS, else EOS, else the tokens of `TEXT_PREFIX`."""
        for token_id in (self.hf.bos_token_id, self.hf.eos_token_id):
            if isinstance(token_id, int):
                return [token_id]
        return list(self.hf(TEXT_PREFIX, add_special_tokens=False)["input_ids"])

    def _encode(self, chunks: list[str]) -> list[list[int]]:
        """Ids of every chunk, special-token text as ordinary text: one bulk call to lexkit's encode engine.

        The first chunk is also encoded by the transformers tokenizer; should the two ever differ (a wrapper
        that changes the pipeline), every chunk goes through the transformers tokenizer instead.
        """
        if self.tokenizer is None:
            return [self._hf_ids(chunk) for chunk in chunks]
        encoded = split_flat(*self.tokenizer.encode_batch_flat(chunks, disallowed_special=()))
        if not self.checked and chunks:
            self.checked = True
            reference = self._hf_ids(chunks[0])
            if encoded[0] != reference:
                logger.warning("evaluate: lexkit's engine and the transformers tokenizer disagree on %r; "
                               "encoding with the transformers tokenizer", chunks[0][:40])
                self.tokenizer = None
                return [self._hf_ids(chunk) for chunk in chunks]
        return encoded

    def _hf_ids(self, chunk: str) -> list[int]:
        return list(self.hf(chunk, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    def score(self, documents: Sequence[str], chunk_chars: int) -> tuple[DocumentScore, ...]:
        """Summed NLL (nats), bytes and tokens of each document over its chunks (all chunks encoded at once)."""
        chunked = [chunk_text(document, chunk_chars) for document in documents]
        encoded = iter(self._encode([c for chunks in chunked for c in chunks]))
        return tuple(self._score_document([([*self.prefix, *next(encoded)], len(c.encode("utf-8"))) for c in chunks])
                     for chunks in chunked)

    def _score_document(self, sequences: list[tuple[list[int], int]]) -> DocumentScore:
        sequences = [(ids, size) for ids, size in sequences if len(ids) > len(self.prefix)]
        nll = 0.0
        tokens = 0
        for start in range(0, len(sequences), self.batch_size):
            batch = [ids for ids, _ in sequences[start:start + self.batch_size]]
            batch_nll, batch_tokens = self._nll(batch)
            nll += batch_nll
            tokens += batch_tokens
        return DocumentScore(nll, sum(size for _, size in sequences), tokens)

    def _nll(self, batch: list[list[int]]) -> tuple[float, int]:
        import torch

        longest = max(len(ids) for ids in batch)
        if self.context is not None and longest > self.context:
            raise LexkitError(
                f"a chunk is {longest} tokens long but the model's context is {self.context} positions; every chunk "
                "must fit in one forward pass; pass a smaller chunk_chars (--document-chars on the command line)"
            )
        device = self.model.get_input_embeddings().weight.device
        input_ids = torch.zeros(len(batch), longest, dtype=torch.long)
        mask = torch.zeros(len(batch), longest, dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            mask[row, :len(ids)] = 1
        scored = mask.bool()
        scored[:, :len(self.prefix)] = False  # the prefix is context; every chunk token is a target
        input_ids, mask, scored = input_ids.to(device), mask.to(device), scored[:, 1:].to(device)
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float()
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:], reduction="none")
        return float(losses[scored].sum()), int(scored.sum())
