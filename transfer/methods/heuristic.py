"""The ``heuristic`` planner, TokenAdapt-style (Sharthak et al., arXiv 2505.09738): a local estimate from the token's
decomposition under the source tokenizer, re-weighted by auxiliary-space similarity and piece length, mixed with
a global estimate from its top-K nearest source tokens in the auxiliary space (FAISS), then pulled a share
``shrink`` toward the mean row (`TransferConfig.shrink`: a tied model's new rows are also its output rows)."""

from __future__ import annotations

import numpy as np

from lexkit.errors import LexkitError
from lexkit.transfer.anchors import TEXT_KINDS
from lexkit.transfer.methods.plan import Plan, PlanInputs, decompositions, new_tokens

__all__ = ["plan_heuristic"]

_TAU_EPSILON = 1e-5  # added to the heuristic's temperature, as in TokenAdapt


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    out: np.ndarray = shifted / shifted.sum()
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    out: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return out


def plan_heuristic(plan: Plan, inputs: PlanInputs) -> None:
    """Each new text token: its local and global estimates mixed (module docstring).

    Raises:
        LexkitError: no auxiliary embedder was given.
    """
    import faiss

    aux = inputs.aux
    if aux is None:
        raise LexkitError("the heuristic method needs an auxiliary embedder; pass aux=PATH or an embedder")
    source, target, rows, config = inputs.source, inputs.target, inputs.source_rows, inputs.config
    new = new_tokens(target, plan, text_only=True)
    pieces_of = decompositions(source, target, new, rows)
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
            name, ids = "local+global", np.concatenate([local_ids, global_ids])
            weights = np.concatenate([(1.0 - config.global_weight) * local_w, config.global_weight * global_w])
        else:
            name, ids, weights = estimates[0]
        plan.combos[token_id] = (ids, ((1.0 - config.shrink) * weights).astype(np.float32))
        plan.estimates[token_id] = name
        if config.shrink:
            plan.mean_weights[token_id] = config.shrink
