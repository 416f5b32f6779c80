"""Batched orthogonal matching pursuit (OMP) over anchors (transfer.md section 4).

Goddard & Fernandes Neto, "Training-Free Tokenizer Transplantation via Orthogonal Matching Pursuit",
arXiv 2506.06607. Each new token's donor row is approximated as a sparse combination of anchor donor rows; the
same indices and coefficients applied to the anchors' source rows give its source-space row. Only coefficients
cross spaces, so the donor and source dimensions may differ.

The kernel works on torch tensors on any device, in float32, with an incremental QR factorisation of the chosen
atoms (Gram-Schmidt, re-orthogonalised every ``reorth_interval`` steps); coefficients are exact least squares on
the selected support. An optional pre-filter restricts each target's dictionary to its M nearest anchors
by absolute cosine, which makes CPU runs over real vocabularies affordable; it is an approximation (flagged in reports).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

EPS = 1e-8
REORTH_INTERVAL = 256
DEPENDENT = 1e-4  # an atom whose new direction is below this share of its norm is in the span already
# Targets per batch of the pre-filtered path: the union of their candidate sets grows with the batch.
_UNION_BATCH = 128


def batched_omp(
    targets: torch.Tensor,
    dictionary: torch.Tensor,
    k: int,
    *,
    candidates: torch.Tensor | None = None,
    normalize_atoms: bool = False,
    eps: float = EPS,
    reorth_interval: int = REORTH_INTERVAL,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse-code a batch of targets over a dictionary of atoms with OMP.

    At each of ``k`` steps every target picks the atom with the largest absolute inner product with its
    residual (divided by the atom norm when ``normalize_atoms``), the chosen atoms' orthonormal basis grows by
    one column, and the residual is recomputed from the targets (not updated) for numerical stability.

    Args:
        targets: ``Y``, shape ``(B, D)``.
        dictionary: ``X``, the atoms, shape ``(N, D)``.
        k: atoms to select per target; at most ``min(N, D)`` (or ``M`` with candidates).
        candidates: optional ``(B, M)`` indices into ``dictionary``: target ``b`` may only use atoms
            ``candidates[b]`` (the pre-filtered path).
        normalize_atoms: select by correlation with unit-norm atoms instead of raw inner products.
        eps: floor of atom norms in divisions.
        reorth_interval: re-orthogonalise the basis with a batched QR every this many steps.

    Returns:
        ``(indices, coefficients)``, both ``(B, k)``: indices into ``dictionary`` and least-squares
        coefficients, so that ``Y[b] ≈ sum_j coefficients[b, j] * X[indices[b, j]]``. A selected atom already
        in the span of the earlier ones (a duplicate) adds nothing; the slots left over repeat the first index
        with coefficient 0.
    """
    import torch

    y = targets.float()
    x = dictionary.float()
    batch, dim = y.shape
    rows = torch.arange(batch, device=y.device)
    union = None
    if candidates is not None:
        # subtle: OMP runs over the union of the batch's candidate sets with each target masked to its own, so
        # every step is one matrix product instead of B matrix-vector products over gathered (M, D) blocks,
        # which are bound by memory traffic. Same supports and coefficients; the union stays small when the
        # batch's targets share candidates (`omp_coefficients` orders them so).
        union, local = torch.unique(candidates, return_inverse=True)
        x = x[union]
    inverse_norms = 1.0 / x.norm(dim=1).clamp_min(eps) if normalize_atoms else None
    width = x.shape[0]
    q = y.new_zeros(batch, k, dim)  # basis vectors as rows: contiguous slices keep the batched products fast
    r = y.new_zeros(batch, k, k)
    projection = y.new_zeros(batch, k)  # Qᵀ Y, one entry per basis vector
    chosen = torch.zeros(batch, k, dtype=torch.long, device=y.device)
    filled = torch.zeros(batch, dtype=torch.long, device=y.device)  # basis vectors so far, per target
    used = torch.zeros(batch, width, dtype=torch.bool, device=y.device)  # chosen, or not among the candidates
    if union is not None:
        used.fill_(True)
        used[rows.unsqueeze(1), local] = False
    residual = y
    for step in range(k):
        score = (residual @ x.T).abs_()  # (B, N)
        if inverse_norms is not None:
            score *= inverse_norms
        score.masked_fill_(used, -torch.inf)
        best, pick = score.max(dim=1)
        used[rows, pick] = True
        atom = x[pick]  # (B, D)
        basis = q[:, :step]  # rows at or beyond a target's `filled` count are zero
        p = torch.bmm(basis, atom.unsqueeze(2)).squeeze(2)  # (B, step)
        v = atom - torch.bmm(p.unsqueeze(1), basis).squeeze(1)
        norm = v.norm(dim=1)
        # An atom (numerically) in the span of the chosen ones adds no direction: it gets no column, so exact
        # duplicates cannot produce huge cancelling coefficients; such a target keeps fewer than k atoms.
        grow = (norm > DEPENDENT * atom.norm(dim=1).clamp_min(eps)) & (best > -torch.inf)  # none left: no column
        index, slot = rows[grow], filled[grow]
        r[index, :step, slot] = p[grow]
        r[index, slot, slot] = norm[grow]
        q[index, slot] = v[grow] / norm[grow].unsqueeze(1)
        projection[index, slot] = (q[index, slot] * y[grow]).sum(dim=1)
        chosen[index, slot] = pick[grow]
        filled += grow.long()
        if (step + 1) % reorth_interval == 0:
            # subtle: Q_old = Q_new R', so R_old becomes R' R_old (still upper triangular), and Qᵀ Y changes.
            # Unfilled rows of Q are zero and trail the filled ones, so their rows of R' are zero too.
            live = (torch.arange(step + 1, device=y.device) < filled.unsqueeze(1)).unsqueeze(2)
            q_new, r_fix = torch.linalg.qr(q[:, :step + 1].transpose(1, 2))
            q[:, :step + 1] = q_new.transpose(1, 2) * live
            r[:, :step + 1, :step + 1] = r_fix @ r[:, :step + 1, :step + 1]
            projection[:, :step + 1] = torch.bmm(q[:, :step + 1], y.unsqueeze(2)).squeeze(2)
        # the residual is recomputed from Y on the current basis, not updated, so errors do not accumulate
        residual = y - torch.bmm(projection[:, :step + 1].unsqueeze(1), q[:, :step + 1]).squeeze(1)
    unfilled = torch.arange(k, device=y.device) >= filled.unsqueeze(1)
    torch.diagonal(r, dim1=1, dim2=2)[unfilled] = 1.0  # coefficient 0 for slots no atom filled
    chosen[unfilled] = chosen[:, :1].expand(-1, k)[unfilled]
    coefficients = torch.linalg.solve_triangular(r, projection.unsqueeze(2), upper=True).squeeze(2)
    indices = chosen if union is None else union[chosen]
    return indices, coefficients


def nearest_candidates(targets: torch.Tensor, dictionary: torch.Tensor, m: int, *,
                       block: int = 1024) -> torch.Tensor:
    """The ``m`` atoms with the largest absolute cosine similarity to each target (exact search).

    OMP selects by absolute correlation, so an atom pointing the opposite way is as useful as one pointing the
    same way. The search is a blocked matrix product plus top-k on the targets' device: on this project's 2-core
    CPU it ran about 5x faster than a FAISS flat index searched for ~1,000 neighbours (the top-k heap
    dominates there), and it runs on the GPU unchanged.

    Args:
        targets: ``(B, D)``.
        dictionary: ``(N, D)``, same device.
        m: candidates per target, at most N.
        block: targets per matrix product (bounds the ``block x N`` score matrix).

    Returns:
        ``(B, m)`` int64 indices into ``dictionary``, most similar first.
    """
    import torch

    atoms = torch.nn.functional.normalize(dictionary.float(), dim=1, eps=EPS)
    queries = torch.nn.functional.normalize(targets.float(), dim=1, eps=EPS)
    out = torch.empty(len(queries), m, dtype=torch.long, device=queries.device)
    for start in range(0, len(queries), block):
        scores = (queries[start:start + block] @ atoms.T).abs_()
        out[start:start + block] = scores.topk(m, dim=1).indices
    return out


def omp_coefficients(
    targets: torch.Tensor,
    dictionary: torch.Tensor,
    k: int,
    *,
    batch_size: int = 512,
    prefilter: int | None = None,
    normalize_atoms: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run `batched_omp` over all targets in batches, optionally inside a nearest-anchor pre-filter.

    Args:
        targets: donor rows of the tokens to approximate, ``(T, D)``, on the device to compute on.
        dictionary: donor rows of the anchors, ``(N, D)``, same device.
        k: atoms per target.
        batch_size: targets per OMP batch (the pre-filtered path uses at most 128, so that the union of the
            batch's candidate sets stays small).
        prefilter: ``M``, the candidate anchors per target (nearest by absolute cosine); None runs exact OMP
            over all anchors.
        normalize_atoms: see `batched_omp`.

    Returns:
        ``(indices, coefficients)`` as numpy arrays of shape ``(T, k)`` (int64 and float32).
    """
    import torch

    total = targets.shape[0]
    indices = np.empty((total, k), dtype=np.int64)
    coefficients = np.empty((total, k), dtype=np.float32)
    candidates = None
    order = np.arange(total)
    if prefilter is not None:
        candidates = nearest_candidates(targets, dictionary, prefilter)
        # Targets with the same nearest anchors go into one batch, so their candidate sets overlap.
        first = candidates[:, :2].cpu().numpy()
        order = np.lexsort((first[:, 1], first[:, 0]))
        batch_size = min(batch_size, _UNION_BATCH)
    for start in range(0, total, batch_size):
        batch = order[start:start + batch_size]
        picked = torch.from_numpy(batch).to(targets.device)
        chosen, coef = batched_omp(
            targets[picked], dictionary, k, normalize_atoms=normalize_atoms,
            candidates=None if candidates is None else candidates[picked],
        )
        indices[batch] = chosen.cpu().numpy()
        coefficients[batch] = coef.cpu().numpy()
        logger.debug("OMP: %d of %d targets", min(start + batch_size, total), total)
    return indices, coefficients
