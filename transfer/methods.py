"""Approximation methods, one embedding matrix at a time (transfer.md sections 1, 4, 5, 6.1).

Every method produces a `Plan`: for each target token either a copied source row (an anchor), a weighted
combination of source rows (approximated), a per-matrix fill (the `mean` and `random` baselines), or a fallback
(the mean row, with the reason). Plans are pure bookkeeping on ids; `apply_plan` turns one into a matrix, so a
method whose weights do not depend on the matrix (heuristic, subword-mean) is planned once and applied to both
the input embeddings and an untied head, while OMP plans each matrix against its own donor matrix.

Methods:
- ``omp``: sparse coding over anchors in a donor space (`lexkit.transfer.omp`).
- ``heuristic``: TokenAdapt-style (Sharthak et al., arXiv 2505.09738): a local estimate from the token's
  decomposition under the source tokenizer, re-weighted by auxiliary-space similarity and piece length, mixed
  with a global estimate from its top-K nearest source tokens in the auxiliary space.
- ``subword-mean``: the mean of the decomposition's rows (FVT / ReTok style).
- ``mean``: the mean source row; ``random``: N(mean_d, std_d) per dimension, seeded (never unscaled N(0, 1)).

Not handled here: the hypernetwork and the other methods of transfer.md section 5 (zero, hewitt, knn, prefix,
landmark-pca, focus, wechsel).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lexkit.device import resolve_device
from lexkit.errors import LexkitError
from lexkit.transfer.anchors import TEXT_KINDS, AnchorMatch, match_anchors
from lexkit.transfer.tokenizer import TokenizerLike, TransferTokenizer
from lexkit.vocabulary import TokenKind

if TYPE_CHECKING:
    import torch

    from lexkit.transfer.auxiliary import AuxiliaryEmbedder

logger = logging.getLogger(__name__)

Status = Literal["copied", "approximated", "fallback"]
_TAU_EPSILON = 1e-5  # added to the heuristic's temperature, as in TokenAdapt
_APPLY_CHUNK = 4096  # target rows combined at once by apply_plan


class Method(str, enum.Enum):
    """Approximation methods; the values are also the CLI choices."""

    OMP = "omp"
    HEURISTIC = "heuristic"
    MEAN = "mean"
    SUBWORD_MEAN = "subword-mean"
    RANDOM = "random"
    ZERO = "zero"
    HYPERNETWORK = "hypernetwork"

    @classmethod
    def parse(cls, value: str | Method) -> Method:
        """The method named ``value``.

        Raises:
            LexkitError: no method has that name.
        """
        try:
            return cls(value)
        except ValueError:
            raise LexkitError(
                f"unknown transfer method {value!r}; lexkit implements {', '.join(m.value for m in cls)}; "
                "pass one of those as method="
            ) from None


@dataclass(frozen=True)
class OmpDefaults:
    """The OMP settings `lexkit transplant` uses when none are given, per device, chosen by measurement.

    CPU: on the Qwen2.5 tokenizer -> SmolLM2-135M swap (donor Qwen2.5-Coder-0.5B, 112k new rows, 39k anchors, 2
    cores, `bench/bench_omp_defaults.py`) k=8 inside 64 candidates ranked in 128 principal directions gave 2.06 bits
    per byte in a 99 s matrix stage (64 directions: 2.11 in 90 s; mean init 2.46); the exact search of 256
    candidates (1.91) took 296 s. CUDA: the exact search is cheap on a GPU, so the best setting measured regardless
    of time (k=64, pre-filter 1024, full-dimension search: 1.87) is used; it was not timed on a GPU here.
    """

    k: int
    prefilter: int
    search_dim: int | None
    center: bool = True

    @classmethod
    def for_device(cls, device: torch.device | str) -> OmpDefaults:
        """The defaults for ``device`` (``cuda`` or anything else, which gets the CPU settings)."""
        return cls(64, 1024, None) if str(device).startswith("cuda") else cls(8, 64, 128)


@dataclass(frozen=True)
class TransferConfig:
    """Options of the approximation methods, validated before any work starts.

    Args:
        k: OMP sparsity (atoms per token); capped at the donor dimension, must not exceed the anchor count.
        batch_size: OMP targets per batch.
        prefilter: OMP only: search each token's nearest ``prefilter`` anchors by absolute cosine and run OMP
            inside that set; None runs exact OMP over all anchors (mergekit). `OmpDefaults` holds the CLI's
            measured defaults per device.
        search_dim: OMP pre-filter only: rank the candidates inside the anchors' top ``search_dim`` principal
            directions instead of all donor dimensions (a cheaper, approximate search); None searches exactly.
        normalize_atoms: OMP only: select atoms by correlation with unit-norm atoms (mergekit: off).
        center: OMP only: affine OMP. Code each new token's donor row minus the anchors' donor mean, and
            rebuild it around the source matrix's mean, E'[t] = μ + Σ c_j (E[s_j] − μ), so the sparse
            combination need not carry the component every row shares. Off matches mergekit; on the Qwen2.5 →
            SmolLM2 swap it took bits per byte from 2.54 to about 1.9 (`bench/bench_transfer_qwen.py`).
        temperature: heuristic softmax temperature τ (TokenAdapt default 0.3).
        global_weight: heuristic weight W of the global estimate (default 0.3).
        top_k: heuristic global neighbours K (default 3).
        similarity_threshold: heuristic: global neighbours below this cosine get no weight (default 0.0).
        clip_norms: rescale approximated rows whose norm exceeds the flag threshold down to it.
        flag_percentile: percentile of anchor row norms above which an approximated row is flagged (99.9).
        seed: seed of the random baseline.
    """

    k: int = 64
    batch_size: int = 512
    prefilter: int | None = None
    search_dim: int | None = None
    normalize_atoms: bool = False
    center: bool = False
    temperature: float = 0.3
    global_weight: float = 0.3
    top_k: int = 3
    similarity_threshold: float = 0.0
    clip_norms: bool = False
    flag_percentile: float = 99.9
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("k", "batch_size", "top_k"):
            if getattr(self, name) < 1:
                raise LexkitError(f"{name}={getattr(self, name)} is invalid: it counts items; pass {name}=1 or more")
        if self.search_dim is not None and self.search_dim < 1:
            raise LexkitError(f"search_dim={self.search_dim} is invalid: it counts dimensions; pass 1 or more, or None")
        if self.prefilter is not None and self.prefilter < self.k:
            raise LexkitError(
                f"prefilter={self.prefilter} is smaller than k={self.k}: OMP cannot pick {self.k} atoms from "
                f"{self.prefilter} candidates; pass prefilter >= k (e.g. 1024) or prefilter=None for exact OMP"
            )
        if self.temperature <= 0:
            raise LexkitError(f"temperature={self.temperature} must be positive (it divides); pass e.g. 0.3")
        if not 0.0 <= self.global_weight <= 1.0:
            raise LexkitError(f"global_weight={self.global_weight} mixes two estimates; pass a value in [0, 1]")
        if not 0.0 < self.flag_percentile <= 100.0:
            raise LexkitError(f"flag_percentile={self.flag_percentile} is a percentile; pass a value in (0, 100]")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TransferConfig:
        """Build from keyword options, rejecting unknown names.

        Raises:
            LexkitError: an option is unknown or invalid.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise LexkitError(
                f"unknown transfer option(s) {', '.join(unknown)}; they are not settings of any method; "
                f"valid options: {', '.join(sorted(known))}"
            )
        return cls(**options)


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
        flagged: an approximated row whose norm exceeds the anchors' ``flag_percentile`` (transfer.md 4.6).
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


# ----------------------------------------------------------------------------------------------------------------
# planning
def _new_tokens(target: TransferTokenizer, plan: Plan, *, text_only: bool) -> list[int]:
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


def _plan_fill(target: TransferTokenizer, plan: Plan, fill: Literal["mean", "random", "zero"]) -> None:
    for token_id in _new_tokens(target, plan, text_only=False):
        plan.fills[token_id] = fill
        plan.estimates[token_id] = fill


def _decompositions(source: TransferTokenizer, target: TransferTokenizer, ids: list[int],
                    rows: int) -> dict[int, list[int]]:
    """Each target token's pieces under the source tokenizer (ids with an embedding row only)."""
    out = {}
    for token_id in ids:
        pieces = [i for i in source.decompose(target.vocabulary.tokens[token_id].content) if i < rows]
        out[token_id] = pieces
    return out


def _plan_subword_mean(source: TransferTokenizer, target: TransferTokenizer, plan: Plan, rows: int) -> None:
    new = _new_tokens(target, plan, text_only=True)
    for token_id, pieces in _decompositions(source, target, new, rows).items():
        if not pieces:
            plan.fallbacks[token_id] = "no decomposition under the source tokenizer"
            continue
        plan.combos[token_id] = (np.asarray(pieces, dtype=np.int64),
                                 np.full(len(pieces), 1.0 / len(pieces), dtype=np.float32))
        plan.estimates[token_id] = "subword"


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    out: np.ndarray = shifted / shifted.sum()
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    out: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return out


def _plan_heuristic(source: TransferTokenizer, target: TransferTokenizer, plan: Plan, rows: int,
                    aux: AuxiliaryEmbedder, config: TransferConfig) -> None:
    import faiss

    new = _new_tokens(target, plan, text_only=True)
    pieces_of = _decompositions(source, target, new, rows)
    indexed = [t.id for t in source.vocabulary.tokens[:rows] if t.kind in TEXT_KINDS]
    source_text = {i: source.text(i) for i in {*indexed, *(p for ps in pieces_of.values() for p in ps)}}
    target_text = {i: target.text(i) for i in new}
    strings = sorted({*source_text.values(), *target_text.values()})
    vectors = dict(zip(strings, _unit(aux.embed(strings))))
    index = faiss.IndexFlatIP(next(iter(vectors.values())).shape[0])
    index.add(np.stack([vectors[source_text[i]] for i in indexed]))
    queries = np.stack([vectors[target_text[i]] for i in new]) if new else np.zeros((0, index.d), np.float32)
    similarities, neighbours = index.search(queries, min(config.top_k, len(indexed)))
    tau = config.temperature + _TAU_EPSILON
    for row, token_id in enumerate(new):
        text = target_text[token_id]
        query = vectors[text]
        estimates: list[tuple[str, np.ndarray, np.ndarray]] = []
        pieces = pieces_of[token_id]
        if pieces:
            piece_similarity = np.array([vectors[source_text[p]] @ query for p in pieces], dtype=np.float32)
            lengths = np.array([len(source_text[p]) / max(len(text), 1) for p in pieces], dtype=np.float32)
            weights = _softmax(((_softmax(piece_similarity) + lengths) / 2.0) / tau)
            estimates.append(("local", np.asarray(pieces, dtype=np.int64), weights))
        cosines = similarities[row]
        keep = cosines >= config.similarity_threshold
        if keep.any():
            weights = _softmax(cosines / tau) * keep
            found = np.asarray([indexed[j] for j in neighbours[row]], dtype=np.int64)
            estimates.append(("global", found[keep], (weights / weights.sum())[keep]))
        if not estimates:
            plan.fallbacks[token_id] = (
                "no decomposition under the source tokenizer and no global neighbour above the similarity threshold"
            )
            continue
        if len(estimates) == 2:
            (_, local_ids, local_w), (_, global_ids, global_w) = estimates
            ids = np.concatenate([local_ids, global_ids])
            weights = np.concatenate([(1.0 - config.global_weight) * local_w, config.global_weight * global_w])
            plan.combos[token_id] = (ids, weights.astype(np.float32))
            plan.estimates[token_id] = "local+global"
        else:
            name, ids, weights = estimates[0]
            plan.combos[token_id] = (ids, weights.astype(np.float32))
            plan.estimates[token_id] = name


def _plan_omp(target: TransferTokenizer, plan: Plan, donor: torch.Tensor, config: TransferConfig,
              device: torch.device) -> None:
    import torch

    from lexkit.transfer.omp import omp_coefficients

    donor_rows, donor_dim = donor.shape
    new = []
    for token_id in _new_tokens(target, plan, text_only=False):
        if token_id < donor_rows:
            new.append(token_id)
        else:
            plan.fallbacks[token_id] = f"no donor row (the donor matrix has {donor_rows} rows)"
    # subtle: anchors are ordered by donor id (= target id); this only decides argmax ties.
    anchor_targets = np.array(sorted(t for t in plan.anchors.pairs if t < donor_rows), dtype=np.int64)
    anchor_sources = np.array([plan.anchors.pairs[t] for t in anchor_targets], dtype=np.int64)
    if config.k > len(anchor_targets):
        raise LexkitError(
            f"k={config.k} exceeds the {len(anchor_targets)} anchors with a donor row: OMP picks k distinct "
            f"anchors per token; pass k={len(anchor_targets)} or less"
        )
    k = min(config.k, donor_dim)
    if k < config.k:
        plan.notes.append(f"k capped from {config.k} to the donor dimension {donor_dim}")
    prefilter = None if config.prefilter is None else min(config.prefilter, len(anchor_targets))
    if prefilter is not None:
        searched = f", ranked in {config.search_dim} principal directions" if config.search_dim else ""
        plan.notes.append(f"pre-filter: OMP inside each token's {prefilter} nearest anchors by absolute cosine{searched}")
    if not new:
        return
    donor = donor.detach().to(device=device, dtype=torch.float32)
    targets = donor[torch.tensor(new, device=device)]
    dictionary = donor[torch.from_numpy(anchor_targets).to(device)]
    if config.center:
        center = dictionary.mean(dim=0)
        targets, dictionary = targets - center, dictionary - center
        plan.notes.append("centred OMP: donor rows coded around the anchors' mean, rebuilt around the source mean")
    indices, coefficients = omp_coefficients(
        targets, dictionary, k, batch_size=config.batch_size, prefilter=prefilter, search_dim=config.search_dim,
        normalize_atoms=config.normalize_atoms,
        estimate=lambda seconds: logger.info("OMP over %d new rows x %d anchors: about %.0f s", len(new),
                                             len(anchor_targets), seconds))
    for row, token_id in enumerate(new):
        keep = coefficients[row] != 0  # slots left empty by duplicate atoms carry weight 0
        plan.combos[token_id] = (anchor_sources[indices[row][keep]], coefficients[row][keep])
        plan.estimates[token_id] = "omp"
        if config.center:
            plan.mean_weights[token_id] = 1.0 - float(coefficients[row][keep].astype(np.float64).sum())


def make_plan(
    method: Method,
    source: TransferTokenizer,
    target: TransferTokenizer,
    anchors: AnchorMatch,
    *,
    source_rows: int,
    donor: torch.Tensor | None = None,
    aux: AuxiliaryEmbedder | None = None,
    config: TransferConfig,
    device: torch.device,
) -> Plan:
    """Plan every target row of one matrix.

    Args:
        method: the approximation method.
        source: the source tokenizer.
        target: the target tokenizer.
        anchors: matched tokens (copied rows).
        source_rows: rows of the source matrix; source ids at or above it are never used.
        donor: OMP only: the donor matrix, row i for target id i, ``(V_donor, D_donor)``.
        aux: heuristic only: the auxiliary embedder.
        config: method options.
        device: where OMP runs.

    Raises:
        LexkitError: OMP without a donor matrix, the heuristic without an embedder, or k above the anchor count.
    """
    plan = Plan(size=len(target), anchors=anchors)
    if method == Method.MEAN:
        _plan_fill(target, plan, "mean")
    elif method == Method.RANDOM:
        _plan_fill(target, plan, "random")
    elif method == Method.ZERO:
        _plan_fill(target, plan, "zero")
    elif method == Method.SUBWORD_MEAN:
        _plan_subword_mean(source, target, plan, source_rows)
    elif method == Method.HYPERNETWORK:
        raise LexkitError(
            "the hypernetwork method predicts the input and output matrices together from a trained network; "
            "call transplant(model, tokenizer, method='hypernetwork', hypernetwork=PATH) instead"
        )
    elif method == Method.HEURISTIC:
        if aux is None:
            raise LexkitError("the heuristic method needs an auxiliary embedder; pass aux=PATH or an embedder")
        _plan_heuristic(source, target, plan, source_rows, aux, config)
    else:
        if donor is None:
            raise LexkitError(
                "method 'omp' needs a donor embedding space for the target vocabulary and none was given; "
                "pass donor=PATH (a causal LM that uses the target tokenizer), donor='auxiliary' (experimental: "
                "OMP in an auxiliary text-embedding space), or choose method='heuristic'"
            )
        _plan_omp(target, plan, donor, config, device)
    return plan


# ----------------------------------------------------------------------------------------------------------------
# applying
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
    from dataclasses import replace

    return replace(report, method=method.value, matrix=matrix, seconds=seconds, notes=report.notes + notes)


# ----------------------------------------------------------------------------------------------------------------
# layer 1: one matrix, on arrays
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
