"""The ``omp`` planner: each new token's donor row coded as a sparse combination of anchors' donor rows (orthogonal
matching pursuit), the same coefficients then combining the anchors' source rows
(Goddard & Fernandes Neto, arXiv 2506.06607)."""

from __future__ import annotations

import logging

import numpy as np

from lexkit.errors import LexkitError
from lexkit.transfer.methods.plan import Plan, PlanInputs, new_tokens

__all__ = ["plan_omp"]

logger = logging.getLogger(__name__)


def plan_omp(plan: Plan, inputs: PlanInputs) -> None:
    """Each new token: a k-sparse combination of anchors fitted in the donor space (`lexkit.transfer.omp`).

    Raises:
        LexkitError: no donor matrix was given, or k exceeds the anchors with a donor row.
    """
    import torch

    from lexkit.transfer.omp import omp_coefficients

    donor, config, device = inputs.donor, inputs.config, inputs.device
    if donor is None:
        raise LexkitError(
            "method 'omp' needs a donor embedding space for the target vocabulary and none was given; "
            "pass donor=PATH (a causal LM that uses the target tokenizer), donor='auxiliary' (experimental: "
            "OMP in an auxiliary text-embedding space), or choose method='heuristic'"
        )
    donor_rows, donor_dim = donor.shape
    new = []
    for token_id in new_tokens(inputs.target, plan, text_only=False):
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
