"""A `Plan` (how every target row of one matrix is made, on ids) and `apply_plan`, which turns it into the matrix
and its `TransferReport` (per-token provenance and norm flags).

Plans are pure bookkeeping on ids: for each target token a copied source row (an anchor), a weighted combination
of source rows (approximated), a per-matrix fill (the `mean`, `random` and `zero` baselines), rows a model
predicted, or a fallback (the mean row, with the reason). So a method whose weights do not depend on the matrix
(heuristic, subword-mean) is planned once and applied to both the input embeddings and an untied head, while OMP
plans each matrix against its own donor matrix. The planners live beside this module, one per method family.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lexkit.transfer.anchors import TEXT_KINDS, AnchorMatch
from lexkit.transfer.methods.config import Method, TransferConfig
from lexkit.transfer.tokenizer import TransferTokenizer
from lexkit.vocabulary import TokenKind

if TYPE_CHECKING:
    import torch

    from lexkit.transfer.auxiliary import AuxiliaryEmbedder

__all__ = [
    "Plan", "PlanInputs", "Planner", "TokenProvenance", "TransferReport", "apply_plan", "decompositions",
    "finish_report", "new_tokens",
]

logger = logging.getLogger(__name__)

Status = Literal["copied", "approximated", "fallback"]
_APPLY_CHUNK = 4096  # target rows combined at once by apply_plan


@dataclass(frozen=True)
class TokenProvenance:
    """Where one target row came from.

    Attributes:
        target_id: the token's id in the target tokenizer.
        status: ``copied`` (an anchor), ``approximated`` (a method estimated it) or ``fallback`` (no estimate:
            the mean row).
        match: for copied rows, ``exact`` or ``role``.
        source_id: for copied rows, the source id.
        sources: for approximated combinations, the source ids combined.
        weights: their weights (OMP coefficients, heuristic or subword weights).
        mean_weight: weight of the matrix's mean row added to the combination (centred OMP), else 0.
        estimate: which estimate made the row (``omp``, ``local``, ``global``, ``local+global``, ``subword``,
            ``mean``, ``random``).
        reason: for fallbacks, why no estimate exists.
        norm: the row's L2 norm in the new matrix.
        flagged: an approximated row whose norm exceeds the anchors' ``flag_percentile``.
    """

    target_id: int
    status: Status
    match: str | None = None
    source_id: int | None = None
    sources: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    mean_weight: float = 0.0
    estimate: str | None = None
    reason: str | None = None
    norm: float = 0.0
    flagged: bool = False

    @property
    def coefficient_l1(self) -> float:
        """L1 norm of the combination weights (large values signal a fragile or crafted reconstruction)."""
        return float(sum(abs(w) for w in self.weights))

    def to_json(self) -> dict[str, Any]:
        """A compact dict with the fields that are set."""
        out: dict[str, Any] = {"id": self.target_id, "status": self.status}
        for key, value in (("match", self.match), ("source", self.source_id), ("estimate", self.estimate),
                           ("reason", self.reason)):
            if value is not None:
                out[key] = value
        if self.sources:
            out["sources"] = list(self.sources)
            out["weights"] = [round(w, 6) for w in self.weights]
        if self.mean_weight:
            out["mean_weight"] = round(self.mean_weight, 6)
        out["norm"] = round(self.norm, 5)
        if self.flagged:
            out["flagged"] = True
        return out


@dataclass(frozen=True)
class TransferReport:
    """What happened to one matrix: method, options, anchors, per-token provenance, norm flags, timing."""

    method: str
    matrix: Literal["input", "output"]
    params: dict[str, Any]
    anchors: dict[str, int]
    provenance: tuple[TokenProvenance, ...]
    norm_threshold: float
    seconds: float
    notes: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Target tokens per status (copied / approximated / fallback)."""
        out = {"copied": 0, "approximated": 0, "fallback": 0}
        for entry in self.provenance:
            out[entry.status] += 1
        return out

    @property
    def flagged(self) -> tuple[int, ...]:
        """Target ids of flagged (unusually large) approximated rows."""
        return tuple(p.target_id for p in self.provenance if p.flagged)

    def to_json(self, *, provenance: bool = True) -> dict[str, Any]:
        """JSON-ready summary, with the per-token table unless ``provenance=False``."""
        approximated = [p for p in self.provenance if p.status == "approximated"]
        out: dict[str, Any] = {
            "method": self.method, "matrix": self.matrix, "params": self.params, "anchors": self.anchors,
            "counts": self.counts(), "seconds": round(self.seconds, 3), "notes": list(self.notes),
            "norms": {
                "threshold": round(self.norm_threshold, 5), "flagged": list(self.flagged),
                "max_approximated": round(max((p.norm for p in approximated), default=0.0), 5),
                "max_coefficient_l1": round(max((p.coefficient_l1 for p in approximated), default=0.0), 5),
            },
        }
        if provenance:
            out["provenance"] = [p.to_json() for p in self.provenance]
        return out


@dataclass
class Plan:
    """How every target row of one matrix is made (ids only; `apply_plan` does the arithmetic).

    Attributes:
        size: number of target tokens (rows with provenance).
        anchors: the copied rows.
        combos: target id -> (source ids, weights) of an approximated combination.
        fills: target id -> ``"mean"`` or ``"random"`` (approximated by a baseline fill).
        mean_weights: target id -> weight of the matrix's mean row added to its combination (centred OMP:
            ``1 - sum(weights)``).
        fallbacks: target id -> reason; these rows get the mean row.
        estimates: target id -> estimate name for approximated rows.
        notes: remarks for the report (experimental options, capped parameters).
        predicted: rows a model predicted directly (the hypernetwork): target ids and their ``(n, D)`` rows;
            those ids are in ``fills`` as ``"hypernetwork"``.
    """

    size: int
    anchors: AnchorMatch
    combos: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    fills: dict[int, str] = field(default_factory=dict)
    mean_weights: dict[int, float] = field(default_factory=dict)
    fallbacks: dict[int, str] = field(default_factory=dict)
    estimates: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    predicted: tuple[list[int], torch.Tensor] | None = None


@dataclass(frozen=True)
class PlanInputs:
    """What a planner may read besides the plan: both tokenizers and each method's own inputs.

    Attributes:
        source: the source tokenizer.
        target: the target tokenizer.
        source_rows: rows of the source matrix; source ids at or above it are never used.
        config: method options.
        device: where OMP runs.
        donor: OMP only: the donor matrix, row i for target id i, ``(V_donor, D_donor)``.
        aux: heuristic only: the auxiliary embedder.
    """

    source: TransferTokenizer
    target: TransferTokenizer
    source_rows: int
    config: TransferConfig
    device: torch.device
    donor: torch.Tensor | None = None
    aux: AuxiliaryEmbedder | None = None


# A planner fills a fresh plan (anchors set) for every target row that is not an anchor.
Planner = Callable[[Plan, PlanInputs], None]


def new_tokens(target: TransferTokenizer, plan: Plan, *, text_only: bool) -> list[int]:
    """Target ids that need an estimate; unused ids (and, for text methods, unmatched specials) fall back."""
    out = []
    for token in target.vocabulary.tokens:
        if token.id in plan.anchors.pairs:
            continue
        if token.kind == TokenKind.UNUSED:
            plan.fallbacks[token.id] = "unused id: no token to estimate"
        elif text_only and token.kind not in TEXT_KINDS:
            plan.fallbacks[token.id] = f"{token.kind.value} token with no source match: no text to decompose"
        else:
            out.append(token.id)
    return out


def decompositions(source: TransferTokenizer, target: TransferTokenizer, ids: list[int],
                    rows: int) -> dict[int, list[int]]:
    """Each target token's pieces under the source tokenizer (ids with an embedding row only)."""
    out = {}
    for token_id in ids:
        pieces = [i for i in source.decompose(target.vocabulary.tokens[token_id].content) if i < rows]
        out[token_id] = pieces
    return out


def apply_plan(plan: Plan, matrix: torch.Tensor, *, source_rows: int, out_rows: int,
               config: TransferConfig) -> tuple[torch.Tensor, TransferReport]:
    """Build the new matrix a plan describes, and its report.

    Statistics (mean and per-dimension std) come from the first ``source_rows`` rows only, so padding rows
    of the source matrix do not bias them. Rows without provenance (``pad_to_multiple_of`` padding) get the
    mean row.

    Args:
        plan: the plan.
        matrix: the source matrix, ``(V_src_rows, D)``; any dtype and device.
        source_rows: rows of ``matrix`` that belong to source tokens.
        out_rows: rows of the result (at least ``plan.size``).
        config: options (clipping, flag percentile, seed).

    Returns:
        ``(new_matrix, report)``: the new matrix ``(out_rows, D)`` in ``matrix``'s dtype and device, and a report
        whose method, matrix and timing fields the caller fills in.
    """
    import torch

    base = matrix.detach().float()
    stats = base[:source_rows]
    mean, std = stats.mean(dim=0), stats.std(dim=0)
    out = mean.expand(out_rows, -1).clone()
    if plan.anchors.pairs:
        targets = torch.tensor(list(plan.anchors.pairs), device=base.device)
        out[targets] = base[torch.tensor(list(plan.anchors.pairs.values()), device=base.device)]
    combos = list(plan.combos.items())
    for start in range(0, len(combos), _APPLY_CHUNK):
        chunk = combos[start:start + _APPLY_CHUNK]
        width = max(len(ids) for _, (ids, _) in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        weights = np.zeros((len(chunk), width), dtype=np.float32)
        for row, (_, (piece_ids, piece_weights)) in enumerate(chunk):
            ids[row, :len(piece_ids)] = piece_ids
            weights[row, :len(piece_weights)] = piece_weights
        rows = torch.tensor([t for t, _ in chunk], device=base.device)
        gathered = base[torch.from_numpy(ids).to(base.device)]  # (n, L, D)
        out[rows] = torch.einsum("nl,nld->nd", torch.from_numpy(weights).to(base.device), gathered)
    if plan.mean_weights:
        centred = torch.tensor(list(plan.mean_weights), device=base.device)
        shares = torch.tensor(list(plan.mean_weights.values()), dtype=torch.float32, device=base.device)
        out[centred] += shares.unsqueeze(1) * mean
    randoms = [t for t, fill in plan.fills.items() if fill == "random"]
    if randoms:
        generator = torch.Generator(device="cpu").manual_seed(config.seed)
        noise = torch.randn(len(randoms), base.shape[1], generator=generator).to(base.device)
        out[torch.tensor(randoms, device=base.device)] = mean + std * noise
    zeros = [t for t, fill in plan.fills.items() if fill == "zero"]
    if zeros:
        out[torch.tensor(zeros, device=base.device)] = 0.0
    if plan.predicted is not None and plan.predicted[0]:
        predicted_ids, predicted_rows = plan.predicted
        out[torch.tensor(predicted_ids, device=base.device)] = predicted_rows.to(base.device, torch.float32)
    norms = out.norm(dim=1)
    anchor_ids = list(plan.anchors.pairs)
    threshold = float(torch.quantile(norms[anchor_ids], config.flag_percentile / 100.0)) if anchor_ids else 0.0
    approximated = torch.tensor([*plan.combos, *plan.fills], dtype=torch.long, device=base.device)
    flagged: set[int] = set()
    if len(approximated):
        over = approximated[norms[approximated] > threshold]
        flagged = set(over.tolist())
        if config.clip_norms and len(over):
            out[over] *= (threshold / norms[over]).unsqueeze(1)
            norms[over] = threshold
    if flagged:
        logger.warning("%d approximated rows exceed the anchors' %.1fth-percentile norm %.4f%s",
                       len(flagged), config.flag_percentile, threshold,
                       " (clipped)" if config.clip_norms else "; pass clip_norms=True to clip them")
    report = TransferReport(
        method="", matrix="input", params=asdict(config), anchors=plan.anchors.counts(),
        provenance=_provenance(plan, norms.cpu().numpy(), flagged), norm_threshold=threshold, seconds=0.0,
        notes=tuple(plan.notes),
    )
    return out.to(matrix.dtype), report


def _provenance(plan: Plan, norms: np.ndarray, flagged: set[int]) -> tuple[TokenProvenance, ...]:
    entries = []
    for token_id in range(plan.size):
        norm = float(norms[token_id])
        if token_id in plan.anchors.pairs:
            entries.append(TokenProvenance(token_id, "copied", match=plan.anchors.kinds[token_id],
                                           source_id=plan.anchors.pairs[token_id], norm=norm))
        elif token_id in plan.combos:
            ids, weights = plan.combos[token_id]
            entries.append(TokenProvenance(
                token_id, "approximated", sources=tuple(int(i) for i in ids),
                weights=tuple(float(w) for w in weights), mean_weight=plan.mean_weights.get(token_id, 0.0),
                estimate=plan.estimates[token_id], norm=norm,
                flagged=token_id in flagged))
        elif token_id in plan.fills:
            entries.append(TokenProvenance(token_id, "approximated", estimate=plan.fills[token_id], norm=norm,
                                           flagged=token_id in flagged))
        else:
            entries.append(TokenProvenance(token_id, "fallback", estimate="mean", reason=plan.fallbacks[token_id],
                                           norm=norm))
    return tuple(entries)


def finish_report(report: TransferReport, method: Method, matrix: Literal["input", "output"],
                  seconds: float, notes: tuple[str, ...] = ()) -> TransferReport:
    """The report with its method, matrix, timing and extra notes filled in."""
    return replace(report, method=method.value, matrix=matrix, seconds=seconds, notes=report.notes + notes)
