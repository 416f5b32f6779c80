"""Chunk alignment and chunk losses for healing: where two tokenizations of one text agree, and how to compare.

Approximate likelihood matching (Minixhofer et al., "Cross-Tokenizer Distillation via Approximate Likelihood
Matching", arXiv 2503.20083) compares teacher and student on *chunks*: byte spans whose two ends are token
boundaries under both tokenizers. A chunk's likelihood under a token LM is the product of the probabilities of the
tokens that spell it, so teacher and student score the same bytes there and can be compared although their token
sequences differ. This module is pure: token ids and token bytes in, chunk indices out; torch tensors in, losses
out. Chunk boundaries are the common token boundaries (``"token"``, the paper's shortest chunks) or only those
followed by whitespace or the end of the text (``"space"``, a cheap form of the paper's debiasing: a pre-token
boundary that whitespace starts is one no token of either tokenizer crosses, so the chunk's main-path likelihood
does not depend on what follows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from lexkit.errors import LexkitError

if TYPE_CHECKING:
    import torch

Boundary = Literal["token", "space"]
BOUNDARIES: tuple[Boundary, ...] = ("token", "space")
_WHITESPACE = frozenset(b" \t\n\r\f\v")


def token_ends(ids: Sequence[int], token_bytes: Sequence[bytes | None], text: bytes, *, what: str) -> np.ndarray:
    """Byte offset in ``text`` where each token of ``ids`` ends.

    Raises:
        LexkitError: the tokens do not spell ``text`` byte for byte (a normalizer or a dummy prefix changed it).
    """
    lengths = []
    pieces = []
    for token_id in ids:
        content = token_bytes[token_id] if token_id < len(token_bytes) else None
        if content is None:
            raise LexkitError(
                f"the {what} encodes plain text with token id {token_id}, which has no bytes (a special token); "
                "healing compares likelihoods of the same bytes; pass a tokenizer that spells text with byte tokens"
            )
        lengths.append(len(content))
        pieces.append(content)
    if b"".join(pieces) != text:
        raise LexkitError(
            f"the {what}'s tokens do not spell the text byte for byte (a normalizer or a dummy-prefix space "
            "changes it), so chunk likelihoods cannot be aligned; healing needs byte-level tokenizers such as "
            "GPT-2, Llama-3, Qwen or SmolLM2 style BPE"
        )
    return np.cumsum(np.asarray(lengths, dtype=np.int64))


@dataclass(frozen=True)
class ChunkAlignment:
    """Which chunk each scored token of teacher and student belongs to (−1: no chunk, not scored).

    Attributes:
        teacher: chunk index per teacher token (same length as the teacher's text tokens).
        student: chunk index per student token.
        chunks: number of chunks.
    """

    teacher: np.ndarray
    student: np.ndarray
    chunks: int


def align_chunks(teacher_ends: np.ndarray, student_ends: np.ndarray, text: bytes, *, teacher_from_start: bool,
                 student_from_start: bool, boundary: Boundary = "token") -> ChunkAlignment:
    """Chunks of one text: the spans between consecutive boundaries that both tokenizations share.

    A side that scores ``from_start`` (it has a BOS token, so its first text token is predicted) starts at byte 0;
    otherwise its first token is never scored and chunks start after it.

    Args:
        teacher_ends: `token_ends` of the teacher's tokens.
        student_ends: `token_ends` of the student's tokens (both spell ``text``).
        text: the UTF-8 text.
        teacher_from_start: whether the teacher's first token is scored.
        student_from_start: whether the student's first token is scored.
        boundary: ``"token"`` (every common boundary) or ``"space"`` (common boundaries before whitespace).

    Returns:
        The `ChunkAlignment`; tokens outside every chunk get −1.
    """
    start = max(0 if teacher_from_start else int(teacher_ends[0]), 0 if student_from_start else int(student_ends[0]))
    common = np.intersect1d(teacher_ends, student_ends)
    if boundary == "space":
        keep = [e for e in common.tolist() if e == len(text) or text[e] in _WHITESPACE]
        common = np.asarray(keep, dtype=np.int64)
    # chunks run between common boundaries at or after the first scored byte (byte 0 counts when both score it)
    cuts = np.concatenate([[0] if start == 0 else [], common[common >= max(start, 1)]]).astype(np.int64)

    def owner(ends: np.ndarray) -> np.ndarray:
        # token ending at e belongs to chunk k when cuts[k] < e <= cuts[k + 1]
        index = np.searchsorted(cuts, ends, side="left") - 1
        index[(index < 0) | (index >= len(cuts) - 1)] = -1
        return index

    return ChunkAlignment(owner(teacher_ends), owner(student_ends), max(len(cuts) - 1, 0))


def chunk_logprobs(token_logprobs: torch.Tensor, owners: torch.Tensor, chunks: int) -> torch.Tensor:
    """Sum token log-probabilities per chunk: ``(N,)`` log-probs and owners (−1 = none) -> ``(chunks,)``."""
    import torch

    keep = owners >= 0
    out = torch.zeros(chunks, dtype=token_logprobs.dtype, device=token_logprobs.device)
    return out.index_add(0, owners[keep], token_logprobs[keep])


def binary_cross_entropy(teacher: torch.Tensor, student: torch.Tensor, *, temperature: float = 100.0,
                         epsilon: float = 1e-6) -> torch.Tensor:
    """ALM's default chunk distance: binary cross-entropy between the tempered chunk probabilities.

    Each chunk is a two-outcome event (the text goes on with these bytes, or not), with probability
    ``exp(log p / temperature)``; the loss is the cross-entropy of the student's event against the teacher's. It is
    minimal, with zero gradient, where the student's chunk log-probability equals the teacher's. A high temperature
    keeps long, unlikely chunks from saturating the probabilities at 0.

    Args:
        teacher: ``(C,)`` teacher chunk log-probabilities (the target; no gradient needed).
        student: ``(C,)`` student chunk log-probabilities.
        temperature: divides the log-probabilities (the reference uses 100).
        epsilon: keeps probabilities below 1.

    Returns:
        ``(C,)`` losses.
    """
    import torch

    log_t = teacher.float() / temperature - epsilon
    log_s = student.float() / temperature - epsilon
    return -(torch.exp(log_t) * log_s + (-torch.expm1(log_t)) * _log1mexp(log_s))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, stable on both sides of ``-ln 2``."""
    import torch

    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))
