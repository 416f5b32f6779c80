"""The planner of every `Method`, in one table, and `make_plan`, which dispatches through it.

Adding a method is one entry in `PLANNERS` (and its name in `Method`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lexkit.errors import LexkitError
from lexkit.transfer._sides import TokenizerSide
from lexkit.transfer.anchors import AnchorMatch
from lexkit.transfer.methods.baselines import fill_planner, plan_subword_mean
from lexkit.transfer.methods.config import Method, TransferConfig
from lexkit.transfer.methods.heuristic import plan_heuristic
from lexkit.transfer.methods.omp import plan_omp
from lexkit.transfer.methods.plan import Plan, PlanInputs, Planner

if TYPE_CHECKING:
    import torch

    from lexkit.transfer.auxiliary import AuxiliaryEmbedder

__all__ = ["PLANNERS", "make_plan"]


def _refuse_hypernetwork(plan: Plan, inputs: PlanInputs) -> None:
    """The hypernetwork predicts both matrices at once (`lexkit.transfer.hypernetwork`), never one plan here."""
    raise LexkitError(
        "the hypernetwork method predicts the input and output matrices together from a trained network; "
        "call transplant(model, tokenizer, method='hypernetwork', hypernetwork=PATH) instead"
    )


PLANNERS: dict[Method, Planner] = {
    Method.OMP: plan_omp,
    Method.HEURISTIC: plan_heuristic,
    Method.MEAN: fill_planner("mean"),
    Method.SUBWORD_MEAN: plan_subword_mean,
    Method.RANDOM: fill_planner("random"),
    Method.ZERO: fill_planner("zero"),
    Method.HYPERNETWORK: _refuse_hypernetwork,
}


def make_plan(
    method: Method,
    source: TokenizerSide,
    target: TokenizerSide,
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
    inputs = PlanInputs(source=source, target=target, source_rows=source_rows, config=config, device=device,
                        donor=donor, aux=aux)
    PLANNERS[method](plan, inputs)
    return plan
