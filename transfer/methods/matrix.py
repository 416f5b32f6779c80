"""`init_embeddings`: one embedding matrix for the target vocabulary, on arrays (layer 1 of lexkit.transfer),
and `check_rows`, which checks a matrix and its tokenizer belong together."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from lexkit.device import resolve_device
from lexkit.errors import LexkitError
from lexkit.transfer.anchors import TEXT_KINDS, match_anchors
from lexkit.transfer.methods.config import Method, TransferConfig
from lexkit.transfer.methods.plan import TransferReport, apply_plan, finish_report
from lexkit.transfer.methods.planners import make_plan
from lexkit.transfer.tokenizer import TokenizerLike, TransferTokenizer

if TYPE_CHECKING:
    import torch

__all__ = ["check_rows", "init_embeddings"]

logger = logging.getLogger(__name__)


def init_embeddings(
    source_matrix: torch.Tensor,
    source_tokenizer: TokenizerLike,
    target_tokenizer: TokenizerLike,
    method: str | Method = Method.OMP,
    *,
    donor_matrix: torch.Tensor | None = None,
    aux: Any = None,
    device: str = "auto",
    config: TransferConfig | None = None,
) -> tuple[torch.Tensor, TransferReport]:
    """Build one embedding matrix for the target vocabulary from a source matrix.

    Anchor rows are copied; the rest are estimated by ``method`` (or fall back to the mean row).

    Args:
        source_matrix: ``E``, ``(V_src_rows, D)``; rows at or above the source vocabulary size are padding.
        source_tokenizer: the tokenizer ``E`` belongs to (any form `TransferTokenizer.from_any` accepts).
        target_tokenizer: the tokenizer to build rows for.
        method: ``omp``, ``heuristic``, ``mean``, ``subword-mean`` or ``random``.
        donor_matrix: OMP only: ``F``, ``(V_donor, D_donor)``, row i for target token i (a donor model's
            embeddings, or auxiliary vectors of the target tokens' text).
        aux: heuristic only: an `AuxiliaryEmbedder` or a model folder (default all-MiniLM-L6-v2).
        device: where OMP runs: ``cpu``, ``cuda`` or ``auto``.
        config: method options (defaults when None).

    Returns:
        ``(E_new, report)``: ``(V_tgt, D)`` in ``source_matrix``'s dtype and device, and the per-token report.

    Raises:
        LexkitError: no anchors, a tokenizer/matrix mismatch, a missing donor or embedder, or invalid options.

    >>> import torch
    >>> from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
    >>> from lexkit.vocabulary import Vocabulary
    >>> def vocabulary(merge):
    ...     return Vocabulary.from_merges([bytes([b]) for b in range(256)], [merge],
    ...         pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> source, target = vocabulary((b"a", b"b")), vocabulary((b"b", b"a"))
    >>> matrix, report = init_embeddings(torch.eye(257), source, target, "subword-mean")
    >>> report.counts(), matrix[256, 97].item(), matrix[256, 98].item()
    ({'copied': 256, 'approximated': 1, 'fallback': 0}, 0.5, 0.5)
    """
    from lexkit.transfer.auxiliary import resolve_auxiliary

    started = time.perf_counter()
    config = config or TransferConfig()
    chosen = Method.parse(method)
    source = TransferTokenizer.from_any(source_tokenizer, what="source tokenizer")
    target = TransferTokenizer.from_any(target_tokenizer, what="target tokenizer")
    rows = check_rows(source, source_matrix.shape[0], what="source matrix")
    anchors = match_anchors(source, target, source_rows=rows)
    embedder = resolve_auxiliary(aux, device=device) if chosen == Method.HEURISTIC else None
    plan = make_plan(chosen, source, target, anchors, source_rows=rows, donor=donor_matrix, aux=embedder,
                     config=config, device=resolve_device(device))
    matrix, report = apply_plan(plan, source_matrix, source_rows=rows, out_rows=len(target), config=config)
    return matrix, finish_report(report, chosen, "input", time.perf_counter() - started)


def check_rows(side: TransferTokenizer, rows: int, *, what: str) -> int:
    """Rows of a matrix that belong to tokens of ``side``, after checking the two belong together.

    Special and added tokens beyond the matrix (mergekit issue #342) are ignored with a warning; a normal
    token beyond it means the tokenizer is not the matrix's.

    Raises:
        LexkitError: a normal or byte token's id is at or above ``rows``.
    """
    beyond = [t for t in side.vocabulary.tokens[rows:] if t.kind in TEXT_KINDS]
    if beyond:
        raise LexkitError(
            f"the {what} has {rows} rows but its tokenizer has {len(side)} tokens, including text tokens such as "
            f"id {beyond[0].id} ({beyond[0].text!r}) beyond the last row: model and tokenizer do not belong "
            "together; pass the tokenizer the model was trained with"
        )
    extra = len(side) - rows
    if extra > 0:
        logger.warning("%d special/added tokens have ids beyond the %s's %d rows; they are ignored",
                       extra, what, rows)
    return min(rows, len(side))
