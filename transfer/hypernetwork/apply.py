"""Plans for ``transplant(..., method="hypernetwork")``: anchors copied, other rows predicted by the network.

The network runs once on every target token that is neither an anchor nor unused; its input (and, for an untied
network, output) predictions become one `Plan` per matrix, which `apply_plan` fills in like any other method's.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

from lexkit.transfer.anchors import AnchorMatch
from lexkit.transfer.hypernetwork.network import Hypernetwork, piece_table
from lexkit.transfer.methods.plan import Plan, new_tokens

if TYPE_CHECKING:
    import torch

    from lexkit.transfer.tokenizer import TransferTokenizer

__all__ = ["HypernetworkLike", "hypernetwork_plans"]

HypernetworkLike = Hypernetwork | str | PathLike[str]


def hypernetwork_plans(
    network: HypernetworkLike,
    source: TransferTokenizer,
    target: TransferTokenizer,
    anchors: AnchorMatch,
    input_matrix: torch.Tensor,
    output_matrix: torch.Tensor,
    *,
    source_rows: int,
    device: torch.device,
) -> tuple[Plan, Plan]:
    """Input and output plans for the target vocabulary (the same plan twice for a one-head network).

    Args:
        network: a `Hypernetwork` or its folder.
        source: the source tokenizer (decomposes target tokens).
        target: the target tokenizer.
        anchors: matched tokens (copied rows).
        input_matrix: the source input embeddings.
        output_matrix: the source output embeddings (the input matrix again when tied).
        source_rows: rows that belong to source tokens.
        device: where the network runs.

    Raises:
        LexkitError: the folder holds no hypernetwork, or it was trained for another model.
    """
    loaded = network if isinstance(network, Hypernetwork) else Hypernetwork.load(network, device=device)
    loaded.module.to(device)
    loaded.check_source(input_matrix, source_rows)
    plans = [Plan(size=len(target), anchors=anchors) for _ in range(loaded.outputs)]
    new, decompositions = [], []
    for token_id in new_tokens(target, plans[0], text_only=True):
        pieces = [i for i in source.decompose(target.vocabulary.tokens[token_id].content) if i < source_rows]
        if pieces:
            new.append(token_id)
            decompositions.append(pieces)
        else:
            plans[0].fallbacks[token_id] = "no decomposition under the source tokenizer"
    for plan in plans[1:]:
        plan.fallbacks = dict(plans[0].fallbacks)
    table = piece_table(input_matrix[:source_rows].to(device),
                        output_matrix[:source_rows].to(device) if loaded.outputs == 2 else None)
    rows = loaded.predict(decompositions, table) if new else table.new_zeros(0, loaded.outputs, loaded.source.dim)
    for head, plan in enumerate(plans):
        for token_id in new:
            plan.fills[token_id] = "hypernetwork"
            plan.estimates[token_id] = "hypernetwork"
        plan.predicted = (new, rows[:, head])
        plan.notes.append(f"hypernetwork trained for {loaded.source.model} "
                          f"({loaded.training.get('steps', '?')} steps, {loaded.training.get('tokens', '?')} tokens)")
    return plans[0], plans[-1]
